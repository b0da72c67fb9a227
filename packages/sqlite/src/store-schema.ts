import type BetterSqlite3 from 'better-sqlite3'

/**
 * The store's schema, one migration per version. Version N is reached by running migrations
 * 0..N-1 in order, each in its own transaction; the version lives in `perf_meta` (not
 * `PRAGMA user_version`, which an application sharing the file may use for its own migrations).
 * Append new migrations; never edit a released one.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE perf_events (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    pid INTEGER NOT NULL,
    error TEXT,
    slow INTEGER NOT NULL,
    request_id TEXT,
    metadata TEXT
  );
  CREATE INDEX perf_events_ts ON perf_events (ts);
  CREATE INDEX perf_events_op_ts ON perf_events (type, name, ts);
  CREATE TABLE perf_aggregates (
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    minute INTEGER NOT NULL,
    count INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    slow INTEGER NOT NULL,
    sum_ms REAL NOT NULL,
    min_ms REAL NOT NULL,
    max_ms REAL NOT NULL,
    histogram TEXT NOT NULL,
    PRIMARY KEY (type, name, minute)
  ) WITHOUT ROWID;
  CREATE INDEX perf_aggregates_minute ON perf_aggregates (minute);
  CREATE TABLE perf_samples (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    data TEXT NOT NULL
  );
  CREATE INDEX perf_samples_ts ON perf_samples (ts);
  `,
  // 2: per-hour roll-ups, so a range of days reads one row per op per hour instead of sixty. The
  // store adds every aggregate to its minute and to its hour in one transaction. The minutes a
  // version-1 file already holds (those before `hours_backfill_before`) are rolled up by the store
  // in the background, a chunk at a time: doing it here would hold the event loop for seconds on a
  // file of a few million rows.
  `
  CREATE TABLE perf_hours (
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    hour INTEGER NOT NULL,
    count INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    slow INTEGER NOT NULL,
    sum_ms REAL NOT NULL,
    min_ms REAL NOT NULL,
    max_ms REAL NOT NULL,
    histogram TEXT NOT NULL,
    PRIMARY KEY (type, name, hour)
  ) WITHOUT ROWID;
  CREATE INDEX perf_hours_hour ON perf_hours (hour);
  -- A scalar max() is one index seek; as an aggregate with HAVING it would scan every minute.
  INSERT INTO perf_meta (key, value)
    SELECT 'hours_backfill_before', CAST((SELECT max(minute) FROM perf_aggregates) + 60000 AS TEXT)
    WHERE EXISTS (SELECT 1 FROM perf_aggregates);
  `,
  // 3: releases. The release is kept in tables of its own, keyed (release, type, name, minute|hour),
  // rather than added to the key of perf_aggregates/perf_hours: those rows stay the exact sum of
  // every process whatever release it ran (history and range reads are unchanged), and a release's
  // rows are its own exact sums, so two releases running side by side (a canary, a rolling deploy)
  // never mix. The cost is a second row per op per minute for monitors that name their release.
  // Rows written before this version have no release; they are compared by time range only.
  `
  CREATE TABLE perf_release_minutes (
    release TEXT NOT NULL,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    minute INTEGER NOT NULL,
    count INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    slow INTEGER NOT NULL,
    sum_ms REAL NOT NULL,
    min_ms REAL NOT NULL,
    max_ms REAL NOT NULL,
    histogram TEXT NOT NULL,
    PRIMARY KEY (release, type, name, minute)
  ) WITHOUT ROWID;
  CREATE INDEX perf_release_minutes_minute ON perf_release_minutes (minute);
  CREATE TABLE perf_release_hours (
    release TEXT NOT NULL,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    hour INTEGER NOT NULL,
    count INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    slow INTEGER NOT NULL,
    sum_ms REAL NOT NULL,
    min_ms REAL NOT NULL,
    max_ms REAL NOT NULL,
    histogram TEXT NOT NULL,
    PRIMARY KEY (release, type, name, hour)
  ) WITHOUT ROWID;
  CREATE INDEX perf_release_hours_hour ON perf_release_hours (hour);
  -- One row per process start (pid and start time) and release: when its aggregates were first and last seen.
  CREATE TABLE perf_processes (
    pid INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    release TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (pid, started_at, release)
  ) WITHOUT ROWID;
  CREATE INDEX perf_processes_release ON perf_processes (release, first_seen);
  `,
]

/** Width of a roll-up row of `perf_hours`, ms. */
export const HOUR = 3_600_000

/** The schema version this code writes. */
export const SCHEMA_VERSION: number = MIGRATIONS.length

/** Brings the file's schema up to {@link SCHEMA_VERSION}; throws if the file is newer than this code. */
export function migrate(db: BetterSqlite3.Database, path: string): void {
  db.exec('CREATE TABLE IF NOT EXISTS perf_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)')
  const row = db.prepare("SELECT value FROM perf_meta WHERE key = 'schema_version'").get() as
    | { value: string }
    | undefined
  const current = row === undefined ? 0 : Number(row.value)
  if (!Number.isInteger(current) || current < 0) {
    throw new Error(`SqliteStore: ${path} has an unreadable schema version ${JSON.stringify(row?.value)}`)
  }
  if (current > SCHEMA_VERSION) {
    throw new Error(
      `SqliteStore: ${path} has schema version ${current}, newer than this @perf/sqlite understands (${SCHEMA_VERSION}); upgrade @perf/sqlite or use another file`,
    )
  }
  const setVersion = db.prepare(
    "INSERT INTO perf_meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
  )
  for (let v = current; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!)
      setVersion.run(String(v + 1))
    }).immediate()
  }
}
