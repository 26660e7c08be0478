//! The `veto` command: argument parsing and dispatch. Each subcommand is a
//! few lines of glue in [`commands`] over the library crates.

mod cli;
mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use cli::*;
use veto_store::reviews::Decision;

/// `path` made absolute against the current directory (without resolving
/// links); unchanged if the current directory cannot be read.
fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

/// `veto man`: the page on stdout, or every command's page into a directory.
fn man_page(out_dir: Option<&std::path::Path>) -> ExitCode {
    use clap::CommandFactory;
    let written = match out_dir {
        Some(dir) => std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(Cli::command(), dir)),
        None => clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: writing the manual page: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match &cli.command {
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(*shell, &mut Cli::command(), "veto", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        Command::Man { out_dir } => return man_page(out_dir.as_deref()),
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Absolute from here on: the store records paths (snapshots, models,
    // staging directories) that a later command run elsewhere must find.
    let home = absolute(cli.home.clone().unwrap_or_else(|| PathBuf::from("veto-data")));
    commands::set_database(cli.database.clone());
    let result = runtime.block_on(async {
        match cli.command {
            Command::Generate {
                out,
                persons,
                max_posts,
                seed,
                format,
                export_version,
            } => {
                let format = match format {
                    ExportFormat::Parquet => veto_synth::Format::Parquet,
                    ExportFormat::Jsonl => veto_synth::Format::JsonLines,
                };
                let version = match export_version.as_str() {
                    "1.1" => veto_synth::Version::V1_1,
                    _ => veto_synth::Version::V1,
                };
                commands::generate(&out, persons, max_posts, seed, format, version)
            }
            Command::Objections {
                command: ObjectionsCommand::Import { file },
            } => commands::import_objections(&home, &file).await,
            Command::Objections {
                command: ObjectionsCommand::Review { action },
            } => {
                let decision = action.map(|a| match a {
                    ReviewAction::Approve { objection_id, by } => (objection_id, Decision::Approve, by),
                    ReviewAction::Reject { objection_id, by } => (objection_id, Decision::Reject, by),
                });
                commands::review(&home, decision).await
            }
            Command::ImportFortunes { dir, out } => veto_synth::fortunes::convert(&dir, &out)
                .map(|(persons, items)| println!("Wrote {items} quotes by {persons} authors to {}.", out.display()))
                .map_err(anyhow::Error::from),
            Command::Build(args) => commands::build::run(&home, args).await,
            Command::Snapshots {
                command: SnapshotsCommand::List,
            } => commands::list_snapshots(&home).await,
            Command::Store {
                command: StoreCommand::Copy { from, to },
            } => commands::store::copy(&home, &from, &to).await,
            Command::Ledger {
                command: LedgerCommand::Export { out },
            } => commands::transparency::ledger_export(&home, out).await,
            Command::Ledger {
                command: LedgerCommand::Verify { file, trusted_key },
            } => commands::transparency::ledger_verify(&file, trusted_key.as_deref()),
            Command::Ledger {
                command: LedgerCommand::RotateKey,
            } => commands::transparency::rotate_key(&home).await,
            Command::Lookup {
                person,
                objection,
                json,
            } => match (person, objection) {
                (Some(person), _) => commands::transparency::lookup(&home, &person, json).await,
                (None, Some(id)) => commands::transparency::lookup_third_party(&home, &id, json).await,
                (None, None) => unreachable!("clap requires one of them"),
            },
            Command::Prove {
                person,
                snapshot: Some(snapshot),
                out,
                ..
            } => commands::transparency::prove(&home, &person, &snapshot, out).await,
            Command::Prove {
                person,
                model: Some(model),
                ..
            } => commands::model_reports::prove_training_sets(&home, &person, &model).await,
            Command::Prove { .. } => anyhow::bail!("veto prove needs --snapshot S or --model M"),
            Command::Verify {
                proof,
                ledger,
                snapshot,
                trusted_key,
            } => commands::transparency::verify(
                proof.as_deref(),
                ledger.as_deref(),
                snapshot.as_deref(),
                trusted_key.as_deref(),
            ),
            Command::Report {
                command: ReportCommand::Contributions { model, out },
            } => commands::model_reports::contributions_cmd(&home, &model, out).await,
            Command::Report {
                command:
                    ReportCommand::AiAct {
                        snapshot,
                        format,
                        provider,
                        out,
                    },
            } => {
                let format = match format {
                    ReportFormat::Md => veto_audit::report::Format::Markdown,
                    ReportFormat::Html => veto_audit::report::Format::Html,
                };
                commands::transparency::report_ai_act(&home, &snapshot, format, &provider, out).await
            }
            Command::Train {
                snapshot,
                order,
                out,
                trainer,
                trainer_args,
                trainer_timeout,
            } => {
                let trainer = commands::models::trainer_from_flags(&trainer, order, trainer_args, trainer_timeout)?;
                commands::models::train_cmd(&home, &snapshot, &trainer, out).await
            }
            Command::GenerateText {
                model,
                prompt,
                max_bytes,
                seed,
            } => commands::models::generate_text(&home, &model, &prompt, max_bytes, seed).await,
            Command::Certificate {
                person,
                out,
                no_membership,
            } => commands::certificate::certificate_cmd(&home, &person, out, !no_membership).await,
            Command::Unlearn { model, status: true } => {
                commands::model_reports::unlearn_status(&home, model.as_deref()).await
            }
            Command::Unlearn {
                model: Some(model),
                status: false,
            } => commands::models::unlearn_cmd(&home, &model).await,
            Command::Unlearn { model: None, .. } => anyhow::bail!("veto unlearn needs --model MODEL (or --status)"),
            Command::Audit {
                command:
                    AuditCommand::Canary {
                        model,
                        references,
                        repeats,
                        seed,
                    },
            } => commands::models::audit_canary(&home, &model, references, repeats, seed).await,
            Command::Audit {
                command:
                    AuditCommand::Membership {
                        model,
                        person,
                        sample,
                        seed,
                    },
            } => {
                let who = match (person, sample) {
                    (Some(p), _) => commands::model_reports::Subjects::Person(p),
                    (None, n) => commands::model_reports::Subjects::Sample(n.unwrap_or(1), seed),
                };
                commands::model_reports::audit_membership(&home, &model, who).await
            }
            Command::Serve {
                config,
                listen,
                public_url,
                policy,
                smtp,
                mail_from,
                trusted_proxies,
                public_metrics,
            } => {
                let options = commands::portal::ServeOptions {
                    config,
                    listen,
                    public_url,
                    policy,
                    smtp,
                    mail_from,
                    trusted_proxies,
                    public_metrics,
                    operator_mfa_required: true,
                };
                commands::portal::serve(&home, options).await
            }
            Command::Accounts {
                command:
                    AccountsCommand::Add {
                        person,
                        operator,
                        email,
                        password_stdin,
                    },
            } => commands::portal::add_account(&home, person, operator, email, password_stdin).await,
            Command::Accounts {
                command: AccountsCommand::Totp { operator },
            } => commands::portal::new_second_factor(&home, &operator).await,
            Command::Tokens {
                command: TokensCommand::Add { name, operator, days },
            } => commands::portal::add_token(&home, &name, operator, days).await,
            Command::Tokens {
                command: TokensCommand::List,
            } => commands::portal::list_tokens(&home).await,
            Command::Tokens {
                command: TokensCommand::Revoke { name },
            } => commands::portal::revoke_token(&home, &name).await,
            Command::Receipt {
                command: ReceiptCommand::Verify { file, public_key },
            } => commands::portal::verify_receipt(&home, &file, public_key).await,
            Command::Redact { policy } => commands::redact(&policy),
            Command::Doctor => match commands::doctor::run(&home).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(anyhow::anyhow!("veto doctor found records and files that disagree")),
                Err(e) => Err(e),
            },
            Command::Demo {
                persons,
                seed,
                serve,
                listen,
            } => {
                let home = absolute(cli.home.unwrap_or_else(|| PathBuf::from("veto-demo")));
                commands::demo::run(&home, persons, seed, serve.then_some(listen)).await
            }
            Command::Completions { .. } | Command::Man { .. } => unreachable!("answered before the runtime starts"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
