-- Durable schedule (DESIGN §6): delayed actions survive restarts and are claimed with SKIP LOCKED,
-- so any number of workers can run the scheduler and each job's effect commits exactly once.
CREATE TABLE scheduled_jobs (
    id          bigserial   PRIMARY KEY,
    -- Idempotency: scheduling the same job twice (a redelivered event) keeps one job.
    job_key     text        NOT NULL UNIQUE,
    kind        text        NOT NULL,
    merchant_id text        NOT NULL,
    due_at      timestamptz NOT NULL,
    payload     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text,
    -- Set when a job failed too often; kept for inspection instead of being retried forever.
    failed_at   timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scheduled_jobs_due ON scheduled_jobs (due_at) WHERE failed_at IS NULL;
CREATE INDEX scheduled_jobs_merchant ON scheduled_jobs (merchant_id, kind);
