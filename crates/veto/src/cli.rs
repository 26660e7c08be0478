//! The command line as clap reads it: every subcommand, flag and default,
//! and nothing else (main.rs dispatches, `commands/` does the work).

use std::path::PathBuf;

use crate::commands;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "veto",
    version,
    about = "Train AI only on content whose authors have not objected, and prove it."
)]
pub(crate) struct Cli {
    /// The installation's state directory: snapshots, models and (unless
    /// --database names another) the SQLite store [default: veto-data; for
    /// `demo`: veto-demo].
    #[arg(long, global = true, env = "VETO_HOME")]
    pub(crate) home: Option<PathBuf>,
    /// The state store's database: sqlite://PATH or
    /// postgres://USER@HOST:PORT/DB (several processes on one database)
    /// [default: sqlite://<home>/veto.db]. Snapshots and models stay under --home.
    #[arg(long, global = true, env = "VETO_DATABASE_URL", value_name = "URL", value_parser = veto_store::Database::parse)]
    pub(crate) database: Option<veto_store::Database>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Generate a synthetic platform export (persons, items, objections).
    Generate {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        persons: usize,
        /// Each person's posts are drawn from 1..=N (the other kinds do not
        /// change): raise it for more items from the same persons.
        #[arg(long, default_value_t = veto_synth::DEFAULT_MAX_POSTS, value_parser = clap::value_parser!(u32).range(1..))]
        max_posts: u32,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, value_enum, default_value_t = ExportFormat::Parquet)]
        format: ExportFormat,
        /// Export format version: 1.1 adds the items' `tagged` and `usage`
        /// (every v1 field stays the same).
        #[arg(long, default_value = "1", value_parser = ["1", "1.1"])]
        export_version: String,
    },
    /// Turn Debian's fortunes-de quotes into a JSON Lines export (authors as persons).
    ImportFortunes {
        #[arg(long, default_value = veto_synth::fortunes::DEFAULT_DIR)]
        dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Objections on file.
    Objections {
        #[command(subcommand)]
        command: ObjectionsCommand,
    },
    /// Build a snapshot: apply the policy to an export and write training shards.
    Build(commands::build::BuildArgs),
    /// Snapshots on record.
    Snapshots {
        #[command(subcommand)]
        command: SnapshotsCommand,
    },
    /// The state store itself: move an installation between databases.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// The transparency ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// What every snapshot holds of one person.
    Lookup {
        #[arg(long, required_unless_present = "objection", conflicts_with = "objection")]
        person: Option<String>,
        /// A person without an account: the id of their objection (on
        /// their receipt). Shows how many mentions of them were redacted.
        #[arg(long)]
        objection: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// A proof bundle (JSON) of one person's content in one snapshot.
    Prove {
        #[arg(long)]
        person: String,
        /// Snapshot id (or a unique prefix): a proof bundle of the person's items.
        #[arg(long, required_unless_present = "model", conflicts_with = "model")]
        snapshot: Option<String>,
        /// Model id: the person's standing in each training set, recomputed
        /// from the snapshot's files (operators; reads the private index).
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a proof bundle against a ledger export, or a snapshot directory
    /// against its manifest (and the ledger), offline.
    Verify {
        /// A proof bundle from `veto prove`, or a certificate from `veto certificate`.
        proof: Option<PathBuf>,
        /// A ledger export from `veto ledger export`.
        #[arg(long)]
        ledger: Option<PathBuf>,
        /// A snapshot directory: re-hash it, or check excluded doc_ids against its shards.
        #[arg(long)]
        snapshot: Option<PathBuf>,
        /// The installation's genesis public key (hex), if known from elsewhere.
        #[arg(long)]
        trusted_key: Option<String>,
    },
    /// Train the sharded reference language model on a snapshot.
    Train {
        #[arg(long)]
        snapshot: String,
        /// n-gram order (3 to 5 recommended).
        #[arg(long, default_value_t = 5)]
        order: usize,
        /// Model directory (default: <home>/models/<model id>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// `builtin` (Kneser-Ney of --order), or `exec:PROGRAM`: a program
        /// run once per shard under the contract of docs/trainers.md.
        #[arg(long, default_value = "builtin")]
        trainer: String,
        /// An argument for the exec trainer, before the input and output
        /// directories (repeatable).
        #[arg(long = "trainer-arg", allow_hyphen_values = true)]
        trainer_args: Vec<String>,
        /// Seconds one shard's exec trainer may run before it is killed.
        #[arg(long, default_value_t = 3600)]
        trainer_timeout: u64,
    },
    /// Sample text from a model, to see what it learned.
    GenerateText {
        #[arg(long)]
        model: String,
        #[arg(long, default_value = "")]
        prompt: String,
        #[arg(long, default_value_t = 200)]
        max_bytes: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// A signed certificate of what each model did with a person's data,
    /// every claim citing the ledger entry that proves it.
    Certificate {
        /// The person (person_id).
        #[arg(long)]
        person: String,
        #[arg(long)]
        out: Option<PathBuf>,
        /// Leave out the membership audit (it retrains the person's shards).
        #[arg(long)]
        no_membership: bool,
    },
    /// Honour late objections: retrain only the shards that held the data.
    Unlearn {
        #[arg(long, required_unless_present = "status")]
        model: Option<String>,
        /// List late objections not yet unlearned, per model, with their
        /// age (GDPR Art. 12(3) gives one month); changes nothing.
        #[arg(long)]
        status: bool,
    },
    /// Serve the objection portal and the JSON API.
    Serve {
        /// A veto.toml with the same keys as these flags (docs/operations.md);
        /// a flag or its VETO_* variable wins over the file.
        #[arg(long, env = "VETO_CONFIG")]
        config: Option<PathBuf>,
        /// [default: 127.0.0.1:8080]
        #[arg(long, env = "VETO_LISTEN")]
        listen: Option<std::net::SocketAddr>,
        /// The base URL of links in mails, and the origin state changes must
        /// come from (https://veto.example) [default: http://LISTEN].
        #[arg(long, env = "VETO_PUBLIC_URL")]
        public_url: Option<String>,
        /// The policy the pages explain (preset or TOML file) [default: meta-2025].
        #[arg(long, env = "VETO_POLICY")]
        policy: Option<String>,
        /// Deliver mail through this SMTP relay (HOST:PORT) instead of files in <home>/outbox.
        #[arg(long, env = "VETO_SMTP")]
        smtp: Option<String>,
        /// Sender address for mail through --smtp.
        #[arg(long, env = "VETO_MAIL_FROM")]
        mail_from: Option<String>,
        /// A reverse proxy (IP address) whose X-Forwarded-For names the
        /// client for rate limits; repeat for several. None: the peer counts.
        #[arg(long = "trusted-proxy")]
        trusted_proxies: Vec<std::net::IpAddr>,
        /// Answer /metrics without an operator token.
        #[arg(long)]
        public_metrics: bool,
    },
    /// Login accounts for the portal.
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// API tokens for services and operators.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Objection receipts.
    Receipt {
        #[command(subcommand)]
        command: ReceiptCommand,
    },
    /// Audits.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Recover what commands that died left unfinished, and check that the
    /// records and the files on disk agree (exit 1 if they do not).
    Doctor,
    /// Reports.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Redact personal data in text, one text per line from standard input
    /// to standard output, as a build redacts included text (the objectors'
    /// names are left out: they come from the store at build time).
    Redact {
        /// The policy whose redaction switches apply (preset or TOML file).
        #[arg(long, default_value = "meta-2025")]
        policy: String,
    },
    /// Generate a platform, import its objections, build a snapshot with the
    /// meta-2025 policy and print what happened.
    Demo {
        #[arg(long, default_value_t = 2_000)]
        persons: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Then create demo logins and serve the portal.
        #[arg(long)]
        serve: bool,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell),
    /// generated from these definitions.
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff), or with --out-dir write one page per
    /// command there (veto.1, veto-build.1, ...).
    Man {
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(crate) enum ObjectionsCommand {
    /// Import objections from a JSON Lines file (all or nothing).
    Import { file: PathBuf },
    /// Third-party objections held for review: a build found the name in
    /// items of more distinct authors than the policy's
    /// `third_party_review_threshold`. Without an action, lists them.
    Review {
        #[command(subcommand)]
        action: Option<ReviewAction>,
    },
}

#[derive(Subcommand)]
pub(crate) enum ReviewAction {
    /// Apply a held objection from the next build on.
    Approve {
        objection_id: String,
        /// Who decides (recorded with the decision).
        #[arg(long)]
        by: String,
    },
    /// Never apply a held objection.
    Reject {
        objection_id: String,
        #[arg(long)]
        by: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum LedgerCommand {
    /// Write the ledger as JSON Lines with a signed head.
    Export {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a ledger export: hashes, links, key rotations, signed head.
    Verify {
        file: PathBuf,
        #[arg(long)]
        trusted_key: Option<String>,
    },
    /// Replace the signing key (the ledger records the change).
    RotateKey,
}

#[derive(Subcommand)]
pub(crate) enum StoreCommand {
    /// Copy an installation (objections, snapshots and their lookup, models,
    /// the ledger with its keys, accounts and tokens; not sessions) into an
    /// empty database, and check that the copy's ledger head is the source's.
    Copy {
        /// The source: sqlite://PATH or postgres://USER@HOST:PORT/DB.
        #[arg(long, value_name = "URL", value_parser = veto_store::Database::parse)]
        from: veto_store::Database,
        /// The target, which must be empty (it is created and migrated).
        #[arg(long, value_name = "URL", value_parser = veto_store::Database::parse)]
        to: veto_store::Database,
    },
}

#[derive(Subcommand)]
pub(crate) enum AccountsCommand {
    /// Add (or reset) an account; the password is read from standard input.
    /// An operator also gets a new second factor (printed as an otpauth link).
    Add {
        #[arg(long, conflicts_with = "operator")]
        person: Option<String>,
        #[arg(long)]
        operator: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Give an operator a new second factor (the old one stops working).
    Totp {
        #[arg(long)]
        operator: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum TokensCommand {
    /// Create a token (printed once).
    Add {
        #[arg(long)]
        name: String,
        /// An operator token instead of a service token.
        #[arg(long)]
        operator: bool,
        /// Days until the token expires.
        #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=3650))]
        days: u32,
    },
    /// List tokens: name, role, created, expires, revoked (never the token).
    List,
    /// Revoke a token by name, from now on.
    Revoke { name: String },
}

#[derive(Subcommand)]
pub(crate) enum ReceiptCommand {
    /// Check a receipt's signature against --public-key, or against the key of
    /// the existing installation at --home (read-only; nothing is created).
    Verify {
        file: PathBuf,
        /// The installation's public key (hex), as its operator publishes it.
        #[arg(long)]
        public_key: Option<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Plant a canary secret, train, unlearn, and compare exposures.
    Canary {
        #[arg(long)]
        model: String,
        /// Reference secrets the canary is ranked against.
        #[arg(long, default_value_t = 4095)]
        references: usize,
        /// Posts carrying the canary.
        #[arg(long, default_value_t = 16)]
        repeats: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Membership inference (loss, Min-K% Prob) and verbatim memorisation
    /// of a person's texts: before unlearning, after, and retrained
    /// without them; MUSE's PrivLeak.
    Membership {
        #[arg(long)]
        model: String,
        /// The person (person_id) whose texts are tested.
        #[arg(long, conflicts_with = "sample", required_unless_present = "sample")]
        person: Option<String>,
        /// Test this many persons chosen at random (by --seed) instead.
        #[arg(long)]
        sample: Option<usize>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Subcommand)]
pub(crate) enum ReportCommand {
    /// Each person's share of a model's training tokens (current version),
    /// as CSV: person_ref, items, tokens, share.
    Contributions {
        #[arg(long)]
        model: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The public summary of training content (EU AI Act Art. 53(1)(d)).
    AiAct {
        #[arg(long)]
        snapshot: String,
        #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
        format: ReportFormat,
        /// The provider named in section 1.1.
        #[arg(long, default_value = "the operator of this veto installation")]
        provider: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ReportFormat {
    Md,
    Html,
}

#[derive(Subcommand)]
pub(crate) enum SnapshotsCommand {
    /// List the snapshots built by this installation.
    List,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ExportFormat {
    Parquet,
    Jsonl,
}
