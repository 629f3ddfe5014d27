//! Languages and job types workers have offered, remembered across restarts.

use super::{col, Result, Store};

impl Store {
    /// Records that a worker offers these `(id, version)` languages and these job types.
    pub async fn offer(
        &self,
        langs: &[(String, String)],
        job_types: &[String],
        at: i64,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        for (id, version) in langs {
            sqlx::query(
                "INSERT INTO languages (id, version, seen_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version, seen_at = excluded.seen_at",
            )
            .bind(id)
            .bind(version)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        for id in job_types {
            sqlx::query(
                "INSERT INTO job_types (id, seen_at) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
            )
            .bind(id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records languages as offered (tests and tools that prepare a store).
    pub async fn offer_languages(&self, langs: &[(String, String)], at: i64) -> Result<()> {
        self.offer(langs, &[], at).await
    }

    /// Every language ever offered.
    pub async fn offered_languages(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT id FROM languages ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| col(r, "languages", "id")).collect()
    }

    /// Every job type ever offered ("judge" always: every cluster judges).
    pub async fn offered_job_types(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT id FROM job_types ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| col(r, "job_types", "id")).collect()
    }
}
