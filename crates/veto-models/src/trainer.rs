//! The one contract every shard trainer meets (docs/trainers.md states it
//! for programs): given a shard's training set and the held-out set, write
//! artifact files and report the held-out loss. The built-in Kneser-Ney
//! trainer meets it inside the process; any other trainer is a program that
//! veto runs once per shard (`exec:PROGRAM`). Unlearning drives both the
//! same way: it retrains the affected shards through the model's trainer.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use parquet::arrow::ArrowWriter;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use veto_lm::{KneserNey, Trainer};

use crate::data::{Doc, TrainingSet};
use crate::manifest::Artifact;
use crate::{ModelsError, io, write_atomic};

/// The format a trainer's `eval.json` declares.
pub const EVAL_FORMAT: &str = "veto-trainer-eval/1";

/// A program behind the exec contract, as recorded with the model so that
/// unlearning runs the very same one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecSpec {
    /// Absolute path of the program.
    pub program: String,
    pub args: Vec<String>,
    /// SHA-256 of the program file when the model was trained.
    pub program_sha256: String,
    /// Wall-clock limit per shard.
    pub timeout_s: u64,
}

impl ExecSpec {
    /// Resolves `program` (a path, or a name on PATH), hashes it.
    pub fn new(program: &str, args: Vec<String>, timeout_s: u64) -> Result<ExecSpec, ModelsError> {
        let path = resolve(program)
            .ok_or_else(|| ModelsError::Refused(format!("trainer program {program}: not found (nor on PATH)")))?;
        let program_sha256 = sha256_file(&path)?;
        Ok(ExecSpec {
            program: path.display().to_string(),
            args,
            program_sha256,
            timeout_s,
        })
    }

    /// Refuses to run a program that changed since the model was trained:
    /// a retrained shard must come from the trainer that made the others.
    pub fn check_unchanged(&self) -> Result<(), ModelsError> {
        let now = sha256_file(Path::new(&self.program))?;
        if now == self.program_sha256 {
            return Ok(());
        }
        Err(ModelsError::Refused(format!(
            "trainer program {} changed since the model was trained (sha256 {now}, recorded {}); \
             restore it, or train a new model",
            self.program, self.program_sha256
        )))
    }
}

fn resolve(program: &str) -> Option<PathBuf> {
    let p = Path::new(program);
    if p.components().count() > 1 || p.is_absolute() {
        return std::path::absolute(p).ok().filter(|p| p.is_file());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|c| c.is_file())
}

/// The trainer of a model's shards.
pub enum ShardTrainer {
    Builtin(KneserNey),
    Exec(ExecSpec),
}

impl ShardTrainer {
    /// The name recorded with the model.
    pub fn name(&self) -> String {
        match self {
            ShardTrainer::Builtin(kn) => kn.name(),
            ShardTrainer::Exec(spec) => {
                let file = Path::new(&spec.program)
                    .file_name()
                    .map_or(spec.program.clone(), |f| f.to_string_lossy().into_owned());
                std::iter::once(format!("exec:{file}"))
                    .chain(spec.args.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        }
    }
}

/// One shard to train.
pub struct ShardJob<'a> {
    pub shard: u32,
    pub set: &'a TrainingSet,
    /// Held-out tokens with their histories (the built-in trainer's eval).
    pub eval_tokens: &'a [(Vec<u32>, u32)],
    /// The held-out documents (handed to programs as Parquet).
    pub heldout: &'a [Doc],
    /// The version directory being written (renamed into place later).
    pub out_dir: &'a Path,
    /// Its name relative to the model directory (`v<N>`).
    pub version_dir: &'a str,
    pub threads: usize,
    /// Seed handed to programs (`VETO_SEED`).
    pub seed: u64,
}

/// What training one shard gave.
pub struct ShardOutput {
    pub artifacts: Vec<Artifact>,
    pub model_sha256: String,
    /// Per-token held-out probabilities (built-in trainer only).
    pub eval: Option<Vec<f64>>,
    pub heldout_loss: Option<f64>,
}

impl ShardTrainer {
    pub fn train(&self, job: &ShardJob<'_>) -> Result<ShardOutput, ModelsError> {
        match self {
            ShardTrainer::Builtin(kn) => builtin(kn, job),
            ShardTrainer::Exec(spec) => exec(spec, job),
        }
    }
}

fn builtin(kn: &KneserNey, job: &ShardJob<'_>) -> Result<ShardOutput, ModelsError> {
    let texts = job.set.texts();
    let model = kn.train_texts(&texts, job.threads);
    let bytes = model.to_bytes();
    let name = format!("shard-{:05}.kn", job.shard);
    write_atomic(&job.out_dir.join(&name), &bytes)?;
    let eval = crate::train::eval_vector(model.as_ref(), job.eval_tokens, job.threads);
    let le: Vec<u8> = eval.iter().flat_map(|x| x.to_le_bytes()).collect();
    write_atomic(&job.out_dir.join(format!("shard-{:05}.eval", job.shard)), &le)?;
    let sha = hex::encode(Sha256::digest(&bytes));
    Ok(ShardOutput {
        artifacts: vec![Artifact {
            file: format!("{}/{name}", job.version_dir),
            sha256: sha.clone(),
            bytes: bytes.len() as u64,
        }],
        model_sha256: sha,
        eval: Some(eval),
        heldout_loss: None,
    })
}

/// What a program reports in `eval.json`.
#[derive(Debug)]
struct TrainerEval {
    heldout_loss: f64,
}

fn trainer_error(shard: u32, message: String) -> ModelsError {
    ModelsError::Trainer { shard, message }
}

fn exec(spec: &ExecSpec, job: &ShardJob<'_>) -> Result<ShardOutput, ModelsError> {
    let shard = job.shard;
    let work = job.out_dir.join(".work").join(format!("shard-{shard:05}"));
    let input = work.join("input");
    let output = job.out_dir.join(format!("shard-{shard:05}"));
    let logs = job.out_dir.join("logs");
    for dir in [&input, &output, &logs] {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    write_parquet(&input.join("train.parquet"), job.set.schema.clone(), &job.set.batches)?;
    let heldout = heldout_batch(job.heldout)?;
    write_parquet(&input.join("heldout.parquet"), heldout.schema(), &[heldout])?;
    let root = hex::encode(job.set.root);
    let info = serde_json::json!({
        "shard": shard, "rows": job.set.rows, "training_set_root": root, "seed": job.seed,
    });
    write_atomic(&input.join("shard.json"), info.to_string().as_bytes())?;
    run(spec, job, &work, &input, &output, &logs)?;
    let eval_path = output.join("eval.json");
    let eval = read_eval_json(&eval_path).map_err(|m| trainer_error(shard, m))?;
    let artifacts = collect_artifacts(&output, job.version_dir, shard)?;
    std::fs::remove_dir_all(&work).map_err(io(&work))?;
    let mut h = Sha256::new();
    for a in &artifacts {
        h.update(format!("{}\t{}\n", a.file, a.sha256));
    }
    Ok(ShardOutput {
        artifacts,
        model_sha256: hex::encode(h.finalize()),
        eval: None,
        heldout_loss: Some(eval.heldout_loss),
    })
}

/// Runs the program with the contract's arguments, environment and limits;
/// its stdout and stderr go to `logs/shard-NNNNN.{stdout,stderr}`.
fn run(
    spec: &ExecSpec,
    job: &ShardJob<'_>,
    work: &Path,
    input: &Path,
    output: &Path,
    logs: &Path,
) -> Result<(), ModelsError> {
    use std::os::unix::process::CommandExt;
    let shard = job.shard;
    let log = |ext: &str| -> Result<(PathBuf, std::fs::File), ModelsError> {
        let p = logs.join(format!("shard-{shard:05}.{ext}"));
        let f = std::fs::File::create(&p).map_err(io(&p))?;
        Ok((p, f))
    };
    let ((_, out), (err_path, err)) = (log("stdout")?, log("stderr")?);
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .arg(input)
        .arg(output)
        .current_dir(work)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    // veto's own settings (a database URL, say) are not the trainer's.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("VETO_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("VETO_SHARD", shard.to_string())
        .env("VETO_THREADS", job.threads.to_string())
        .env("VETO_SEED", job.seed.to_string())
        .env("VETO_TRAINING_SET_ROOT", hex::encode(job.set.root));
    let child = cmd
        .spawn()
        .map_err(|e| trainer_error(shard, format!("cannot start {}: {e}", spec.program)))?;
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let mut child = child;
        let _ = tx.send(child.wait());
    });
    let status = match rx.recv_timeout(Duration::from_secs(spec.timeout_s)) {
        Ok(status) => status.map_err(|e| trainer_error(shard, format!("waiting for the trainer: {e}")))?,
        Err(_) => {
            // SAFETY: kill(2) on the child's own process group.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let _ = waiter.join();
            return Err(trainer_error(
                shard,
                format!("did not finish within {} s and was killed", spec.timeout_s),
            ));
        }
    };
    let _ = waiter.join();
    if status.success() {
        return Ok(());
    }
    Err(trainer_error(
        shard,
        format!(
            "{} exited with {status}; last lines of {}:\n{}",
            spec.program,
            err_path.display(),
            tail(&err_path)
        ),
    ))
}

fn tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Reads `eval.json` strictly: exactly the contract's three fields, each
/// of its type; every error names the file and the field (serde's own
/// messages name neither the field of a mistyped value nor the file).
fn read_eval_json(path: &Path) -> Result<TrainerEval, String> {
    let at = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("{at}: {e} (the contract requires it)"))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| format!("{at}: not JSON: {e}"))?;
    let serde_json::Value::Object(fields) = value else {
        return Err(format!("{at}: expected a JSON object"));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !["format", "heldout_loss", "heldout_tokens"].contains(&k.as_str()))
    {
        return Err(format!(
            "{at}: unknown field {unknown:?} (expected format, heldout_loss, heldout_tokens)"
        ));
    }
    let field = |name: &str| fields.get(name).ok_or_else(|| format!("{at}: field {name} is missing"));
    if field("format")?.as_str() != Some(EVAL_FORMAT) {
        return Err(format!(
            "{at}: field format is {}, expected {EVAL_FORMAT:?}",
            field("format")?
        ));
    }
    let heldout_loss = field("heldout_loss")?
        .as_f64()
        .filter(|l| l.is_finite() && *l >= 0.0)
        .ok_or_else(|| {
            format!(
                "{at}: field heldout_loss must be a number >= 0, not {}",
                fields["heldout_loss"]
            )
        })?;
    match field("heldout_tokens")?.as_u64() {
        Some(n) if n > 0 => Ok(TrainerEval { heldout_loss }),
        _ => Err(format!(
            "{at}: field heldout_tokens must be a whole number above 0, not {}",
            fields["heldout_tokens"]
        )),
    }
}

/// Every regular file under the output directory, hashed, in path order;
/// links and special files are refused, and there must be an artifact
/// besides `eval.json`.
fn collect_artifacts(output: &Path, version_dir: &str, shard: u32) -> Result<Vec<Artifact>, ModelsError> {
    let mut files = Vec::new();
    let mut stack = vec![output.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let kind = entry.file_type().map_err(io(&entry.path()))?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            } else {
                return Err(trainer_error(
                    shard,
                    format!("{}: not a regular file (links are refused)", entry.path().display()),
                ));
            }
        }
    }
    files.sort();
    if !files.iter().any(|f| f.file_name().is_some_and(|n| n != "eval.json")) {
        return Err(trainer_error(
            shard,
            format!(
                "wrote no artifact into {} (only eval.json or nothing)",
                output.display()
            ),
        ));
    }
    let base = output.parent().unwrap_or(output);
    files
        .iter()
        .map(|f| {
            let rel = f.strip_prefix(base).unwrap_or(f).display().to_string();
            Ok(Artifact {
                file: format!("{version_dir}/{rel}"),
                sha256: sha256_file(f)?,
                bytes: std::fs::metadata(f).map_err(io(f))?.len(),
            })
        })
        .collect()
}

pub(crate) fn sha256_file(path: &Path) -> Result<String, ModelsError> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(io(path))?;
    Ok(hex::encode(h.finalize()))
}

fn write_parquet(
    path: &Path,
    schema: arrow::datatypes::SchemaRef,
    batches: &[arrow::record_batch::RecordBatch],
) -> Result<(), ModelsError> {
    let file = std::fs::File::create(path).map_err(io(path))?;
    let mut w = ArrowWriter::try_new(file, schema, None)?;
    for b in batches {
        w.write(b)?;
    }
    w.close()?;
    Ok(())
}

fn heldout_batch(docs: &[Doc]) -> Result<arrow::record_batch::RecordBatch, ModelsError> {
    use arrow::array::{ArrayRef, StringArray};
    use std::sync::Arc;
    let ids: ArrayRef = Arc::new(StringArray::from_iter_values(docs.iter().map(|d| d.doc_id.as_str())));
    let texts: ArrayRef = Arc::new(docs.iter().map(|d| d.text.as_deref()).collect::<StringArray>());
    Ok(arrow::record_batch::RecordBatch::try_from_iter([
        ("doc_id", ids),
        ("text", texts),
    ])?)
}
