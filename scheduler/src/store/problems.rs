//! Problem versions: a manifest row, its files and its tests. A push adds a version; jobs keep
//! the version they were submitted with.

use judge_common::pb;
use judge_common::problem::{Manifest, PackageFile};

use super::{col, Result, Store, StoreError};

/// A problem version as listed.
#[derive(Debug, Clone)]
pub struct ProblemRecord {
    pub id: String,
    pub version: u32,
    pub name: String,
    pub time_limit_ms: u32,
    pub test_count: u32,
    pub total_bytes: u64,
    /// "pass-fail" or "scoring", then " interactive" for interactive problems.
    pub kind: String,
}

/// A file of a stored version.
pub type StoredFile = PackageFile;

impl Store {
    /// Stores a new version of problem `id`; returns its number.
    pub async fn insert_problem(
        &self,
        id: &str,
        manifest: &Manifest,
        files: &[PackageFile],
        at: i64,
    ) -> Result<u32> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM problems WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let version = col::<i64>(&row, "problems", "v")? + 1;
        sqlx::query(
            "INSERT INTO problems (id, version, name, time_limit_ms, memory_limit_bytes, \
             output_limit_bytes, validator_flags, created_at, output_validator, \
             compile_time_limit_ms, compile_memory_limit_bytes, validator_time_limit_ms, \
             validator_memory_limit_bytes, judging) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(id)
        .bind(version)
        .bind(&manifest.name)
        .bind(i64::from(manifest.time_limit_ms))
        .bind(manifest.memory_limit_bytes as i64)
        .bind(manifest.output_limit_bytes as i64)
        .bind(manifest.validator_flags.join(" "))
        .bind(at)
        .bind(
            manifest
                .output_validator
                .as_ref()
                .map(prost::Message::encode_to_vec),
        )
        .bind(i64::from(manifest.compile_time_limit_ms))
        .bind(manifest.compile_memory_limit_bytes as i64)
        .bind(i64::from(manifest.validator_time_limit_ms))
        .bind(manifest.validator_memory_limit_bytes as i64)
        .bind(prost::Message::encode_to_vec(&manifest.judging))
        .execute(&mut *tx)
        .await?;
        for f in files {
            sqlx::query(
                "INSERT INTO problem_files (problem_id, version, path, sha256, size) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(version)
            .bind(&f.path)
            .bind(&f.sha256)
            .bind(f.size as i64)
            .execute(&mut *tx)
            .await?;
        }
        for (idx, t) in manifest.tests.iter().enumerate() {
            let (input, answer) = (
                t.input.clone().unwrap_or_default(),
                t.answer.clone().unwrap_or_default(),
            );
            sqlx::query(
                "INSERT INTO problem_tests (problem_id, version, idx, name, input_sha256, input_size, \
                 answer_sha256, answer_size, grp) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(id)
            .bind(version)
            .bind(idx as i64)
            .bind(&t.name)
            .bind(&input.sha256)
            .bind(input.size as i64)
            .bind(&answer.sha256)
            .bind(answer.size as i64)
            .bind(i64::from(t.group))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(version as u32)
    }

    /// The newest version of every problem, by id.
    pub async fn problems(&self) -> Result<Vec<ProblemRecord>> {
        let rows = sqlx::query(
            "SELECT p.id, p.version, p.name, p.time_limit_ms, p.judging, \
               (SELECT COUNT(*) FROM problem_tests t WHERE t.problem_id = p.id AND t.version = p.version) AS tests, \
               (SELECT CAST(COALESCE(SUM(f.size), 0) AS BIGINT) FROM problem_files f WHERE f.problem_id = p.id AND f.version = p.version) AS bytes \
             FROM problems p \
             WHERE p.version = (SELECT MAX(version) FROM problems q WHERE q.id = p.id) ORDER BY p.id",
        )
        .fetch_all(self.pool())
        .await?;
        let t = "problems";
        rows.iter()
            .map(|r| {
                Ok(ProblemRecord {
                    id: col(r, t, "id")?,
                    version: col::<i64>(r, t, "version")? as u32,
                    name: col(r, t, "name")?,
                    time_limit_ms: col::<i64>(r, t, "time_limit_ms")? as u32,
                    test_count: col::<i64>(r, t, "tests")? as u32,
                    total_bytes: col::<i64>(r, t, "bytes")? as u64,
                    kind: kind_of(decode_judging(col(r, t, "judging")?)?.as_ref()),
                })
            })
            .collect()
    }

    /// The newest version number of problem `id`, if it exists.
    pub async fn latest_version(&self, id: &str) -> Result<Option<u32>> {
        let row = sqlx::query("SELECT MAX(version) AS v FROM problems WHERE id = $1")
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        Ok(col::<Option<i64>>(&row, "problems", "v")?.map(|v| v as u32))
    }

    /// Everything a worker needs to judge against one problem version.
    pub async fn problem_spec(&self, id: &str, version: u32) -> Result<pb::ProblemSpec> {
        let row = sqlx::query(
            "SELECT time_limit_ms, memory_limit_bytes, output_limit_bytes, validator_flags, \
             output_validator, compile_time_limit_ms, compile_memory_limit_bytes, \
             validator_time_limit_ms, validator_memory_limit_bytes, judging \
             FROM problems WHERE id = $1 AND version = $2",
        )
        .bind(id)
        .bind(i64::from(version))
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("problem {id} version {version}")))?;
        let t = "problems";
        let flags: String = col(&row, t, "validator_flags")?;
        let validator: Option<Vec<u8>> = col(&row, t, "output_validator")?;
        let output_validator = validator
            .map(|b| <pb::OutputValidator as prost::Message>::decode(b.as_slice()))
            .transpose()
            .map_err(|e| StoreError::Corrupt {
                table: "problems",
                detail: format!("output_validator: {e}"),
            })?;
        let judging = decode_judging(col(&row, t, "judging")?)?;
        let rows = sqlx::query(
            "SELECT name, input_sha256, input_size, answer_sha256, answer_size, grp \
             FROM problem_tests WHERE problem_id = $1 AND version = $2 ORDER BY idx",
        )
        .bind(id)
        .bind(i64::from(version))
        .fetch_all(self.pool())
        .await?;
        let tests = rows
            .iter()
            .map(|r| {
                let t = "problem_tests";
                Ok(pb::TestCase {
                    name: col(r, t, "name")?,
                    input: Some(pb::FileRef {
                        sha256: col(r, t, "input_sha256")?,
                        size: col::<i64>(r, t, "input_size")? as u64,
                    }),
                    answer: Some(pb::FileRef {
                        sha256: col(r, t, "answer_sha256")?,
                        size: col::<i64>(r, t, "answer_size")? as u64,
                    }),
                    group: u32::try_from(col::<i64>(r, t, "grp")?).unwrap_or(u32::MAX),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(pb::ProblemSpec {
            id: id.to_string(),
            version,
            time_limit_ms: col::<i64>(&row, t, "time_limit_ms")? as u32,
            memory_limit_bytes: col::<i64>(&row, t, "memory_limit_bytes")? as u64,
            output_limit_bytes: col::<i64>(&row, t, "output_limit_bytes")? as u64,
            tests,
            validator_flags: flags.split_whitespace().map(str::to_string).collect(),
            output_validator,
            compile_time_limit_ms: col::<i64>(&row, t, "compile_time_limit_ms")? as u32,
            compile_memory_limit_bytes: col::<i64>(&row, t, "compile_memory_limit_bytes")? as u64,
            validator_time_limit_ms: col::<i64>(&row, t, "validator_time_limit_ms")? as u32,
            validator_memory_limit_bytes: col::<i64>(&row, t, "validator_memory_limit_bytes")?
                as u64,
            judging,
        })
    }

    /// Deletes problem versions that a newer version replaced and no unfinished job uses;
    /// returns how many. Their blobs become garbage unless another version shares them.
    pub async fn prune_versions(&self) -> Result<u64> {
        const STALE: &str =
            "p.version < (SELECT MAX(q.version) FROM problems q WHERE q.id = p.id) \
             AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.problem_id = p.id \
             AND j.problem_version = p.version AND j.state IN ('queued', 'assigned', 'running'))";
        let mut tx = self.write_tx().await?;
        for table in ["problem_tests", "problem_files"] {
            let sql = format!(
                "DELETE FROM {table} WHERE EXISTS (SELECT 1 FROM problems p \
                 WHERE p.id = {table}.problem_id AND p.version = {table}.version AND {STALE})"
            );
            sqlx::query(&sql).execute(&mut *tx).await?;
        }
        let sql = format!(
            "DELETE FROM problems WHERE EXISTS (SELECT 1 FROM problems p \
             WHERE p.id = problems.id AND p.version = problems.version AND {STALE})"
        );
        let pruned = sqlx::query(&sql).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(pruned)
    }

    /// Removes one version of a problem (its tests, files and row), whatever jobs use it;
    /// `false` if it was not there. For repairs and tests: gc prunes only versions nothing
    /// uses any more.
    pub async fn delete_problem_version(&self, id: &str, version: u32) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        for table in ["problem_tests", "problem_files"] {
            let sql = format!("DELETE FROM {table} WHERE problem_id = $1 AND version = $2");
            sqlx::query(&sql)
                .bind(id)
                .bind(i64::from(version))
                .execute(&mut *tx)
                .await?;
        }
        let gone = sqlx::query("DELETE FROM problems WHERE id = $1 AND version = $2")
            .bind(id)
            .bind(i64::from(version))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(gone > 0)
    }

    /// Every blob some problem version references.
    pub async fn referenced_blobs(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT sha256 FROM problem_files")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| col(r, "problem_files", "sha256"))
            .collect()
    }
}

/// A version's `judging` column: NULL (a version from before it existed) is a batch
/// pass-fail problem.
pub(super) fn decode_judging(blob: Option<Vec<u8>>) -> Result<Option<pb::Judging>> {
    blob.map(|b| <pb::Judging as prost::Message>::decode(b.as_slice()))
        .transpose()
        .map_err(|e| StoreError::Corrupt {
            table: "problems",
            detail: format!("judging: {e}"),
        })
}

/// How a problem is judged, in a word or two: "pass-fail" or "scoring", then
/// " interactive", " multi-pass" as they apply.
pub fn kind_of(judging: Option<&pb::Judging>) -> String {
    let j = judging.cloned().unwrap_or_default();
    let mut kind = String::from(if j.scoring { "scoring" } else { "pass-fail" });
    if j.interactive {
        kind.push_str(" interactive");
    }
    if j.multi_pass {
        kind.push_str(" multi-pass");
    }
    kind
}
