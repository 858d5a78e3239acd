// A stand-alone build of the wxfs AAR (packaging/android/build-aar.sh). In an app's own build,
// include this directory as a module instead: include(":wxfs"); project(":wxfs").projectDir = file("<repo>/packaging/android/wxfs")
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "wxfs"
