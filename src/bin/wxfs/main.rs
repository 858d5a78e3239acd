//! `wxfs`: the host developer's tool. `wxfs demo` plays the image-cache scenario a mini-program
//! developer writes; the other commands look into the sandboxes under a root.
//!
//! Inspection never creates or changes a sandbox: `ls`, `storage` and `serve` read (they work while
//! the mini-program runs in another process; `serve --write` edits storage only where none runs),
//! `invoke` runs an api only in a sandbox that exists unless `--create` says otherwise. Exit
//! status: 0 success, 1 failure (named on stderr), 2 a wrong command line, 3 `fsck` left sandboxes
//! unchecked because they were open elsewhere.

mod demo;
mod import;
mod inspect;
mod maintain;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::TypedValueParser;
use clap::{Args, CommandFactory, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "wxfs",
    version,
    about = "Inspect and maintain the wxfs sandboxes of a mini-program host",
    after_help = "Inspection never creates or changes a sandbox; `ls` and `storage` also work while the \
                  mini-program runs in another process, and so does `serve`.\nExit status: 0 success, 1 failure, 2 wrong arguments, \
                  3 `fsck` skipped sandboxes open elsewhere."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Play a mini-program's image-cache scenario on a fresh sandbox, and check every byte
    Demo {
        /// Where the demo's sandboxes live [default: <tmp>/wxfs-demo]
        root: Option<PathBuf>,
    },
    /// List the sandboxes under ROOT with their usage, or with USER and APP one sandbox's files
    ///
    /// Reads only: works while the mini-program runs in another process. A sandbox's listing is
    /// a snapshot that stayed the same over two walks.
    Ls {
        /// The host's wxfs root directory
        root: PathBuf,
        /// A userId: list this user's sandbox of APP
        #[arg(requires = "app", value_parser = clap::builder::NonEmptyStringValueParser::new())]
        user: Option<String>,
        /// An appId
        #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
        app: Option<String>,
        #[command(flatten)]
        target: Target,
        /// Print one JSON document instead of the table
        #[arg(long)]
        json: bool,
    },
    /// Show a sandbox's storage, as the devtools Storage panel shows it
    ///
    /// Reads a snapshot of the storage log: works while the mini-program runs in another process,
    /// and changes nothing.
    Storage {
        /// The host's wxfs root directory
        root: PathBuf,
        /// The userId
        #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
        user: String,
        /// The appId
        #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
        app: String,
        #[command(flatten)]
        target: Target,
        /// Print one JSON document (`get` prints JSON either way)
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        what: Option<StorageCommand>,
    },
    /// Call one api in a sandbox and print its result (exit 1 when the api fails)
    ///
    /// Opens the sandbox, so it fails while the mini-program runs in another process.
    Invoke {
        /// The host's wxfs root directory
        root: PathBuf,
        /// The userId
        #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
        user: String,
        /// The appId
        #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
        app: String,
        /// The api, as JavaScript calls it: readdirSync, getStorageInfoSync, host.createTempFile, ...
        api: String,
        /// Its argument object
        #[arg(default_value = "{}")]
        json: String,
        /// Create the sandbox (and ROOT) when it does not exist, instead of failing
        #[arg(long)]
        create: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Remove a sandbox (with its plugins' sandboxes; with --plugin, that plugin's alone)
    ///
    /// What `wxfs_remove_sandbox` does: all or nothing, refused (exit 1) while the sandbox or one
    /// of its plugins' is open, here or in another process.
    Rm {
        /// The host's wxfs root directory
        root: PathBuf,
        /// The userId
        #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
        user: String,
        /// The appId
        #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
        app: String,
        #[command(flatten)]
        target: Target,
    },
    /// Serve a web page on this machine to look into the sandboxes under ROOT (and edit storage)
    ///
    /// Overview, storage, files and events, as the devtools Storage panel shows them. Reads as
    /// `ls` and `storage` do: works while the mini-program runs in another process, takes no
    /// lock and creates nothing under ROOT. Prints the address to open, with its token.
    Serve {
        /// The host's wxfs root directory
        root: PathBuf,
        /// The port to listen on [default: any free port]
        #[arg(long, default_value_t = 0, hide_default_value = true)]
        port: u16,
        /// Allow adding, editing, deleting and clearing storage, through the library's own calls,
        /// in sandboxes no other process has open
        #[arg(long)]
        write: bool,
        /// Listen on this address instead of 127.0.0.1 (anyone who can reach it and has the
        /// token can then read the sandboxes)
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::IpAddr>,
    },
    /// Import a Dimina container's MMKV storage into a sandbox's storage (all or nothing)
    ///
    /// Reads MMKV_DIR/ID and ID.crc and writes every key through the storage api, so the
    /// sandbox's limits apply. Refuses a damaged store (see
    /// --recover) and an encrypted one without its key. Prints the keys imported and skipped.
    /// ROOT must exist; the sandbox is created when it does not.
    ImportMmkv(ImportMmkvArgs),
    /// Trim the temp files of all sandboxes under ROOT, least recently used sandbox first
    ///
    /// Open sandboxes are skipped. LIMIT 0 means the default, as in `wxfs_gc`.
    Gc {
        /// The host's wxfs root directory
        root: PathBuf,
        /// Temp bytes to keep across all sandboxes: bytes (4096) or a size (512MiB, 6GiB, 1.5GB;
        /// KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB of 1024); 0 or none: the default (6 GiB)
        #[arg(value_name = "LIMIT", value_parser = maintain::parse_size)]
        limit: Option<u64>,
        /// Print one JSON document instead of the text
        #[arg(long)]
        json: bool,
    },
    /// Check every sandbox's quota journal and storage log against its files
    ///
    /// Sandboxes open in another process are skipped, not checked. Exit status: 0 every sandbox
    /// checked and consistent (or repaired), 1 a problem left unrepaired, 3 no problem found but
    /// some sandboxes skipped (open elsewhere: run it again when they are closed).
    Fsck {
        /// The host's wxfs root directory
        root: PathBuf,
        /// Fix what can be fixed: rewrite journals, cut torn tails, remove staging leftovers
        #[arg(long)]
        repair: bool,
        /// Print one JSON document instead of the text
        #[arg(long)]
        json: bool,
    },
    /// Print shell completions for wxfs (bash, zsh, fish, elvish, powershell) on stdout
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print wxfs's man page (roff) on stdout, or with COMMAND that command's (wxfs-COMMAND(1))
    Man {
        /// A command: its own page, as the main page's list of commands names it
        command: Option<String>,
    },
}

/// Which sandbox of (USER, APP): another platform's, or a plugin's inside the app's.
#[derive(Args, Clone, Default)]
pub struct Target {
    /// The platform whose sandbox it is (as the config's `platform`) [default: wechat]
    #[arg(long, global = true, value_name = "P", value_parser = clap::builder::PossibleValuesParser::new(
        wxfs::platform::Platform::ALL.map(wxfs::platform::Platform::name)
    ).map(|p| wxfs::platform::Platform::from_name(&p).unwrap_or_default()))]
    pub platform: Option<wxfs::platform::Platform>,
    /// The plugin's sandbox inside the app's (as the config's `pluginId`)
    #[arg(long, global = true, value_name = "ID", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub plugin: Option<String>,
}

#[derive(clap::Args)]
struct ImportMmkvArgs {
    /// The host's wxfs root directory
    root: PathBuf,
    /// The userId
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    user: String,
    /// The appId
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    app: String,
    /// The MMKV root directory that holds the store
    mmkv_dir: PathBuf,
    /// The store's MMKV id [default: APP, as Dimina's Android container names it]
    #[arg(long)]
    id: Option<String>,
    /// How the container encoded values: auto (from the id), android, ios, harmony
    #[arg(long, default_value = "auto")]
    layout: String,
    /// The store's encryption key, as text (MMKV uses its first 16 bytes)
    #[arg(long, conflicts_with = "key_hex")]
    key: Option<String>,
    /// The store's encryption key, in hex
    #[arg(long)]
    key_hex: Option<String>,
    /// Import a store whose checksum fails: every record that parses, reported as damaged
    #[arg(long)]
    recover: bool,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum StorageCommand {
    /// Every key with the start of its value (the default)
    List,
    /// One key's value and dataType (exit 1 when the key is missing)
    Get {
        /// The key
        key: String,
    },
}

/// Recovery the library reports while a command opens a sandbox (`wxfs invoke`), on stderr.
struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Info && m.target() == "wxfs"
    }

    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            eprintln!("wxfs: {}: {}", r.level().as_str().to_lowercase(), r.args());
        }
    }

    fn flush(&self) {}
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if log::set_logger(&StderrLog).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    let res = match cli.command {
        Command::Demo { root } => demo::demo(root),
        Command::Ls { user: None, target: Target { platform: Some(_), .. } | Target { plugin: Some(_), .. }, .. } => {
            let mut cli = Cli::command();
            cli.build();
            let ls = cli.find_subcommand_mut("ls").expect("ls is a subcommand");
            ls.error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "--platform and --plugin name one sandbox: give USER and APP too",
            )
            .exit()
        }
        Command::Ls { root, user: None, json, .. } => inspect::ls_root(&root, json),
        Command::Ls { root, user: Some(user), app: Some(app), target, json } => {
            inspect::ls_sandbox(&inspect::config(&root, &user, &app, &target), json)
        }
        Command::Ls { .. } => unreachable!("clap requires APP with USER"),
        Command::Storage { root, user, app, target, json, what } => {
            let cfg = inspect::config(&root, &user, &app, &target);
            match what {
                None | Some(StorageCommand::List) => inspect::storage_list(&cfg, json),
                Some(StorageCommand::Get { key }) => inspect::storage_get(&cfg, &key),
            }
        }
        Command::Invoke { root, user, app, api, json, create, target } => {
            inspect::invoke(&inspect::config(&root, &user, &app, &target), &api, &json, create)
        }
        Command::Rm { root, user, app, target } => maintain::rm(&inspect::config(&root, &user, &app, &target)),
        Command::Serve { root, port, write, listen } => serve::serve(&root, port, write, listen),
        Command::ImportMmkv(a) => import_mmkv(a),
        Command::Gc { root, limit, json } => maintain::gc(&root, limit.unwrap_or(0), json),
        Command::Fsck { root, repair, json } => match maintain::fsck(&root, repair, json) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "wxfs", &mut std::io::stdout());
            Ok(())
        }
        Command::Man { command } => man(command.as_deref()),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wxfs: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The man page of wxfs, or of one of its commands (`wxfs-ls(1)`, as the main page refers to it);
/// an unknown command is a wrong command line (exit 2).
fn man(command: Option<&str>) -> Result<(), String> {
    let mut cli = Cli::command();
    cli.build();
    let page = match command {
        None => cli,
        Some(name) => match cli.find_subcommand(name) {
            Some(sub) => sub.clone().name(format!("wxfs-{name}")).version(env!("CARGO_PKG_VERSION")),
            None => {
                let known: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).filter(|n| *n != "help").collect();
                let msg = format!("invalid value '{name}' for '[COMMAND]': one of {}", known.join(", "));
                let mut man = cli.find_subcommand("man").cloned().unwrap_or_default();
                man.error(clap::error::ErrorKind::InvalidValue, msg).exit()
            }
        },
    };
    clap_mangen::Man::new(page).render(&mut std::io::stdout()).map_err(|e| e.to_string())
}

fn import_mmkv(a: ImportMmkvArgs) -> Result<(), String> {
    let key = match (a.key, a.key_hex) {
        (Some(k), _) => Some(k.into_bytes()),
        (None, Some(h)) => Some(hex::decode(h).map_err(|e| format!("--key-hex: {e}"))?),
        (None, None) => None,
    };
    import::import_mmkv(import::Args {
        root: &a.root,
        user: &a.user,
        app: &a.app,
        mmkv_dir: &a.mmkv_dir,
        id: a.id.as_deref(),
        layout: Some(&a.layout),
        key,
        recover: a.recover,
        json: a.json,
    })
}

/// A progress bar on stderr when it is a terminal and the run is long enough to need one.
fn progress(what: &'static str) -> impl FnMut(usize, usize) {
    use std::io::{IsTerminal, Write};
    let tty = std::io::stderr().is_terminal();
    move |done, total| {
        if !tty || total < 20 {
            return;
        }
        let width = 30;
        let filled = done * width / total.max(1);
        eprint!("\r{what} [{}{}] {done}/{total}", "#".repeat(filled), " ".repeat(width - filled));
        if done == total {
            eprintln!();
        }
        let _ = std::io::stderr().flush();
    }
}
