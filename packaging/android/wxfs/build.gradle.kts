// The wxfs Android library (AAR): libwxfs.so per ABI (src/main/jniLibs, filled by
// packaging/android/build-aar.sh), the Kotlin binding straight from bindings/kotlin, and the
// consumer R8/ProGuard rules that keep JNA working in minified apps. Recipe: docs/android.md.
plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.0.21"
}

android {
    namespace = "wxfs"
    compileSdk = 35
    defaultConfig {
        minSdk = 21
        // Applied to the app that depends on this library when it minifies.
        consumerProguardFiles("../consumer-rules.pro")
    }
    sourceSets["main"].kotlin.srcDir("../../../bindings/kotlin/src/main/kotlin")
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_1_8
        targetCompatibility = JavaVersion.VERSION_1_8
    }
    kotlinOptions { jvmTarget = "1.8" }
}

dependencies {
    // 5.17.0 is the first JNA whose own libjnidispatch.so loads on 16 KB-page devices
    // (java-native-access/jna#1647, fixed by #1654; 5.16.0's fix was incomplete). `api`: the
    // binding's public types extend JNA's, so the app compiles against it too.
    api("net.java.dev.jna:jna:5.17.0@aar")
}
