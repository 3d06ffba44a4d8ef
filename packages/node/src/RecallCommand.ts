/**
 * The `recall` command (`effect/cli`): `recall ls`, `recall stats`,
 * `recall clear [name]` and `recall prune` on a disk store's directory
 * (`--dir`, by default the one `NodeCacheStore.layerFileSystemConfig` uses)
 * or on a Redis store (`--redis URL`, with `--prefix` when the program's
 * store has another key prefix than `recall`), with `--json` for scripts
 * and `--help` on every command.
 *
 * A namespace is a cached function's identity, `name:hash`: the hash is the
 * 32 hex digits after the last `:` (the name may hold `:` too). The
 * namespaces of one name are that function's code versions.
 *
 * The binary (`bin/recall.ts`) runs {@link command} with `NodeRuntime.runMain`
 * over `NodeServices.layer`; tests run it with `Command.runWith`.
 *
 * @since 0.1.0
 */
import type * as CacheStore from "@recall/core/CacheStore"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Argument from "effect/cli/Argument"
import * as CliError from "effect/cli/CliError"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Option from "effect/Option"
import * as RedisStore from "./internal/redisStore.ts"
import * as NodeCacheStore from "./NodeCacheStore.ts"

/**
 * The command's version (`recall --version`).
 *
 * @category constants
 * @since 0.1.0
 */
export const version = "0.1.0"

// ---------------------------------------------------------------------------
// Namespaces
// ---------------------------------------------------------------------------

/**
 * One code version of a cached function: a namespace, as `list` reports it,
 * with its name and hash apart.
 *
 * @category models
 * @since 0.1.0
 */
export interface Version extends CacheStore.NamespaceInfo {
  readonly name: string
  /** The 32 hex digits after the last `:`; empty when the namespace has none. */
  readonly hash: string
  /** Whether this is the name's newest version (by newest write): what `prune` keeps. */
  readonly newest: boolean
}

/**
 * A cached function: its code versions, newest first.
 *
 * @category models
 * @since 0.1.0
 */
export interface CachedFunction {
  readonly name: string
  readonly versions: ReadonlyArray<Version>
  readonly entries: number
  readonly bytes: number
}

const HASH = /^[0-9a-f]{32}$/i

/**
 * The name and the hash of a namespace (`name:hash`, the hash being the 32
 * hex digits after the last `:`); a namespace without one is all name.
 *
 * @category namespaces
 * @since 0.1.0
 */
export const parseNamespace = (namespace: string): { readonly name: string; readonly hash: string } => {
  const at = namespace.lastIndexOf(":")
  if (at >= 0 && HASH.test(namespace.slice(at + 1))) return { name: namespace.slice(0, at), hash: namespace.slice(at + 1) }
  return { name: namespace, hash: "" }
}

/**
 * Namespaces grouped by function name (sorted by name), each function's
 * versions newest first.
 *
 * @category namespaces
 * @since 0.1.0
 */
export const groupByName = (namespaces: ReadonlyArray<CacheStore.NamespaceInfo>): ReadonlyArray<CachedFunction> => {
  const byName = new Map<string, Array<CacheStore.NamespaceInfo & { name: string; hash: string }>>()
  for (const info of namespaces) {
    const parsed = parseNamespace(info.namespace)
    const list = byName.get(parsed.name) ?? []
    list.push({ ...info, ...parsed })
    byName.set(parsed.name, list)
  }
  return [...byName.keys()].sort().map((name) => {
    const versions = byName
      .get(name)!
      .sort((a, b) => b.newestWrite - a.newestWrite || a.namespace.localeCompare(b.namespace))
      .map((v, i): Version => ({ ...v, newest: i === 0 }))
    return {
      name,
      versions,
      entries: versions.reduce((n, v) => n + v.entries, 0),
      bytes: versions.reduce((n, v) => n + v.bytes, 0)
    }
  })
}

// ---------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------

/**
 * A byte count for people: `512 B`, `1.5 KiB`, `3.2 MiB`.
 *
 * @category formatting
 * @since 0.1.0
 */
export const formatBytes = (bytes: number): string => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"]
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`
}

/**
 * How long ago `at` was, seen from `now` (epoch ms): `12s`, `5m`, `3h`, `2d`.
 *
 * @category formatting
 * @since 0.1.0
 */
export const formatAge = (at: number, now: number): string => {
  const seconds = Math.max(0, Math.round((now - at) / 1000))
  if (seconds < 60) return `${seconds}s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`
  return `${Math.floor(seconds / 86400)}d`
}

const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd()
  return [line(header), ...rows.map(line)].join("\n")
}

/** When the soonest entry expires, seen from `now`: `in 5m`, or `never`. */
const formatExpiry = (at: number, now: number): string => (at === Infinity ? "never" : `in ${formatAge(now, at)}`)

/** An epoch time for JSON: `null` for `Infinity` (never). */
const finite = (at: number): number | null => (Number.isFinite(at) ? at : null)

const shortHash = (hash: string) => (hash === "" ? "-" : hash.slice(0, 8))

// ---------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------

const userError = (message: string, cause?: unknown) =>
  new CliError.UserError({ cause: cause ?? message, userMessage: `recall: ${message}` })

/** What to do about a cache directory's files that this user cannot read. */
const OWNER_HINT = "the disk store keeps its files readable by their owner only: run recall as the user that the program runs as"

/** Whether a store's error is the file system's "permission denied". */
const permissionDenied = (e: CacheStore.CacheStoreError): boolean => {
  const cause = e.cause as { readonly _tag?: unknown; readonly reason?: { readonly _tag?: unknown } } | undefined
  return cause?._tag === "PlatformError" && cause.reason?._tag === "PermissionDenied"
}

/**
 * The directory to work on: `--dir`, or else the one
 * `layerFileSystemConfig` would use; checked to exist, be a directory and be
 * readable, failing with a clear message otherwise.
 */
const resolveDirectory = (dir: Option.Option<string>) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    if (Option.isSome(dir) && dir.value === "") return yield* userError("--dir is empty: pass the path of the cache directory")
    const directory = Option.isSome(dir)
      ? dir.value
      : yield* NodeCacheStore.configuredDirectory.pipe(
          Effect.mapError((e) => userError(`cannot find the cache directory: ${e.message}; pass --dir PATH`, e))
        )
    const info = yield* fs
      .stat(directory)
      .pipe(
        Effect.mapError((e) =>
          e.reason._tag === "NotFound"
            ? userError(`no cache directory at ${directory} (nothing was cached there yet, or --dir is wrong)`, e)
            : e.reason._tag === "PermissionDenied"
              ? userError(`cannot read the cache directory ${directory}: permission denied`, e)
              : userError(`cannot read the cache directory ${directory}: ${e.message}`, e)
        )
      )
    if (info.type !== "Directory") return yield* userError(`${directory} is not a directory`)
    const names = yield* fs
      .readDirectory(directory)
      .pipe(
        Effect.mapError((e) =>
          e.reason._tag === "PermissionDenied"
            ? userError(`cannot read the cache directory ${directory}: permission denied`, e)
            : userError(`cannot read the cache directory ${directory}: ${e.message}`, e)
        )
      )
    // A directory the disk store never wrote to is left alone, whatever its files are named.
    if (names.length > 0) {
      const tag = yield* fs.readFileString(`${directory}/${NodeCacheStore.CACHE_DIRECTORY_TAG}`).pipe(
        Effect.catch((e) =>
          // The store writes its files 0600: another user (an admin looking at a service's cache) reads none of them.
          e._tag === "PlatformError" && e.reason._tag === "PermissionDenied"
            ? Effect.fail(
                userError(
                  `cannot read the cache directory ${directory}: permission denied (its ${NodeCacheStore.CACHE_DIRECTORY_TAG}); ${OWNER_HINT}`,
                  e
                )
              )
            : Effect.succeed("")
        )
      )
      if (!NodeCacheStore.isCacheDirectoryTag(tag)) {
        return yield* userError(
          `${directory} is not a recall cache directory (it has files, and no valid ${NodeCacheStore.CACHE_DIRECTORY_TAG}, which the disk store writes there); ` +
            "nothing was read or changed. Pass the directory given to NodeCacheStore.layerFileSystem, or set RECALL_CACHE_DIR"
        )
      }
    }
    return directory
  })

/** Where a command works: a directory, or a Redis server (its URL without the password). */
interface Place {
  /** For messages: the directory, or the URL. */
  readonly label: string
  /**
   * What to add to a message that found nothing: for Redis, the other key
   * prefixes that hold recall's entries there (a program's store with
   * another prefix than the command's is the likeliest reason); "" when none.
   */
  readonly elsewhere: Effect.Effect<string>
  /** For `--json`: `{ directory }` or `{ redis }`. */
  readonly json: { readonly directory: string } | { readonly redis: string; readonly prefix: string }
}

/** A Redis URL as messages show it: without its password. */
const shownUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    // One without a host (`redis:/user:pw@host`, a slash short) keeps its credentials in the path: hidden below.
    if (parsed.host !== "") {
      if (parsed.password !== "") parsed.password = "***"
      return parsed.toString().replace(/\/$/, "")
    }
  } catch {
    // A URL that does not parse (a bad port, say) may still hold a password.
  }
  return RedisStore.hideCredentials(url)
}

/** An environment variable (through Config, as the layers read it), when it is set and not empty. */
const fromEnvironment = (name: string) =>
  Config.option(Config.String(name)).pipe(
    Effect.map(Option.filter((value) => value.trim() !== "")),
    Effect.mapError((e) => userError(`cannot read ${name}: ${e.message}`, e))
  )

/** The longest a command against Redis runs: a generous bound on a listing or a clearing, against a Redis that hangs. */
const REDIS_COMMAND_MILLIS = 120_000

/** How long the command waits for Redis to say whether it is a cluster, and for the cluster to connect. */
const PROBE_MILLIS = 3_000

/** Closes a client at once, whatever state it is in (one never connected throws on `destroy`). */
const destroyQuietly = (client: { destroy: () => void }) => {
  try {
    client.destroy()
  } catch {
    // Closed already.
  }
}

/**
 * A client of `url` for one short look (a 2 s connect, no reconnects), not
 * connected yet; throws on a URL node-redis cannot read.
 */
const lookingClient = async (url: string) => {
  const redis = await import("redis")
  const client = redis.createClient({ url, socket: { connectTimeout: 2_000, reconnectStrategy: false } })
  client.on("error", () => {})
  return client
}

/** What `promise` gives within `millis`; `undefined` after that (the promise is left to settle unobserved). */
const within = <A>(millis: number, promise: Promise<A>): Promise<A | undefined> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), millis)
  })
  promise.catch(() => {})
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

/**
 * A cluster client for `url` when the Redis there is a node of a Redis
 * Cluster (`INFO cluster` says `cluster_enabled:1`), connected, and closed
 * with the scope: the store then lists and clears on every master, where a
 * client of that one node saw only its keys (and said it had cleared
 * everything). `undefined` for a standalone Redis, or when the probe cannot
 * reach it: the store's own client then says what is wrong.
 */
const clusterAt = (url: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async (): Promise<NodeCacheStore.RedisClusterClient | undefined> => {
        let probe: Awaited<ReturnType<typeof lookingClient>>
        try {
          probe = await lookingClient(url)
        } catch {
          // A URL node-redis cannot read: the store's own check says what is wrong with it.
          return undefined
        }
        let enabled = false
        try {
          // Bounded: a Redis that accepts the connection and never answers (stopped, SIGSTOP) would hold the command forever.
          const info = await within(
            PROBE_MILLIS,
            probe.connect().then(() => probe.info("cluster"))
          )
          enabled = info !== undefined && /^cluster_enabled:1\b/m.test(info)
        } catch {
          return undefined
        } finally {
          destroyQuietly(probe)
        }
        if (!enabled) return undefined
        // The other nodes with the URL's user, password and TLS.
        const { username, password, protocol } = new URL(url)
        const redis = await import("redis")
        const cluster = redis.createCluster({
          rootNodes: [{ url }],
          defaults: {
            ...(username === "" ? {} : { username: decodeURIComponent(username) }),
            ...(password === "" ? {} : { password: decodeURIComponent(password) }),
            ...(protocol === "rediss:" ? { socket: { tls: true } } : {})
          }
        })
        cluster.on("error", () => {})
        if ((await within(PROBE_MILLIS, cluster.connect())) === undefined) {
          destroyQuietly(cluster)
          throw new Error(`it did not answer within ${PROBE_MILLIS / 1000} s`)
        }
        return cluster as unknown as NodeCacheStore.RedisClusterClient
      },
      catch: (cause) =>
        userError(`cannot connect to the Redis Cluster at ${shownUrl(url)}: ${cause instanceof Error ? cause.message : String(cause)}`)
    }),
    // Destroyed, not closed: a close waits for replies a master that stopped answering never sends.
    (cluster) => (cluster === undefined ? Effect.void : Effect.sync(() => destroyQuietly(cluster)))
  )

/** The most keys {@link otherPrefixes} scans: a hint, not an inventory. */
const PREFIX_SCAN_KEYS = 10_000

/**
 * The key prefixes other than `prefix` under which Redis at `url` (through
 * `cluster`, for a Redis Cluster) holds recall's namespace names (the
 * `<prefix>:{<hash>}:m` keys), as a sentence for a message that found
 * nothing; "" when there are none, or when they cannot be read.
 */
const otherPrefixes = (url: string, cluster: NodeCacheStore.RedisClusterClient | undefined, prefix: string): Effect.Effect<string> =>
  Effect.promise(async () => {
    const found = new Set<string>()
    const scan = async (client: NodeCacheStore.RedisClient) => {
      let seen = 0
      for await (const batch of client.scanIterator({ MATCH: "*:{*}:m", COUNT: 1000 })) {
        for (const key of batch.map(String)) {
          const at = key.lastIndexOf(":{")
          if (at > 0 && key.slice(0, at) !== prefix) found.add(key.slice(0, at))
        }
        seen += batch.length
        if (seen >= PREFIX_SCAN_KEYS) return
      }
    }
    try {
      if (cluster !== undefined) {
        const scanMasters = async () => {
          for (const master of cluster.masters) await scan((await cluster.nodeClient(master)) as unknown as NodeCacheStore.RedisClient)
        }
        await within(PROBE_MILLIS, scanMasters())
      } else {
        const client = await lookingClient(url)
        try {
          await within(
            PROBE_MILLIS,
            client.connect().then(() => scan(client as unknown as NodeCacheStore.RedisClient))
          )
        } finally {
          destroyQuietly(client)
        }
      }
    } catch {
      return ""
    }
    if (found.size === 0) return ""
    const names = [...found].sort()
    return ` Other key prefixes there hold recall's entries: ${names.join(", ")}; give --prefix ${names[0]} to work on one.`
  })

const withStore = <A>(
  { dir, redis, prefix }: { dir: Option.Option<string>; redis: Option.Option<string>; prefix: Option.Option<string> },
  body: (store: CacheStore.Service, at: Place) => Effect.Effect<A, CacheStore.CacheStoreError | CliError.UserError>
) =>
  Effect.gen(function* () {
    if (Option.isSome(redis) && Option.isSome(dir)) return yield* userError("give --dir or --redis, not both")
    // As NodeCacheStore.layerRedisConfig reads them: RECALL_REDIS_URL (unless --dir says otherwise) and RECALL_REDIS_PREFIX.
    const url = Option.isNone(redis) && Option.isNone(dir) ? yield* fromEnvironment("RECALL_REDIS_URL") : redis
    const keyPrefix = Option.isNone(prefix) && Option.isSome(url) ? yield* fromEnvironment("RECALL_REDIS_PREFIX") : prefix
    if (Option.isSome(keyPrefix) && Option.isNone(url)) return yield* userError("--prefix is for a Redis store: give --redis URL too")
    const opened = Option.isSome(url)
      ? Effect.gen(function* () {
          const cluster = yield* clusterAt(url.value)
          const prefixOption = Option.getOrUndefined(keyPrefix)
          const store = yield* NodeCacheStore.makeRedis(
            cluster === undefined ? { url: url.value, prefix: prefixOption } : { client: cluster, prefix: prefixOption }
          ).pipe(Effect.mapError((e) => userError(`cannot use the Redis store at ${shownUrl(url.value)}: ${e.reason}`, e)))
          const shown = shownUrl(url.value)
          const prefixUsed = Option.getOrElse(keyPrefix, () => "recall")
          const kind = cluster === undefined ? "" : "a Redis Cluster, "
          const place: Place = {
            label: `${shown} (${kind}key prefix ${prefixUsed})`,
            elsewhere: otherPrefixes(url.value, cluster, prefixUsed),
            json: { redis: shown, prefix: prefixUsed }
          }
          return { store, at: place }
        })
      : Effect.gen(function* () {
          const directory = yield* resolveDirectory(dir)
          const store = yield* NodeCacheStore.make({ directory })
          return { store, at: { label: directory, elsewhere: Effect.succeed(""), json: { directory } } satisfies Place }
        })
    const { store, at } = yield* opened
    const run = body(store, at).pipe(
      Effect.mapError((e) =>
        e._tag !== "CacheStoreError"
          ? e
          : Option.isNone(url) && permissionDenied(e)
            ? userError(`cannot read the cache directory ${at.label}: permission denied (${e.reason}); ${OWNER_HINT}`, e)
            : userError(`cannot ${e.operation} in ${at.label}: ${e.reason}`, e)
      )
    )
    // The store's operations have no deadline of their own (DataCache's tier gives them one): a Redis that stops
    // answering mid-command (a stopped master of a cluster) would hold the command forever.
    if (Option.isNone(url)) return yield* run
    return yield* Effect.timeoutOrElse(run, {
      duration: REDIS_COMMAND_MILLIS,
      orElse: () =>
        Effect.fail(
          userError(
            `Redis at ${at.label} did not finish the command within ${REDIS_COMMAND_MILLIS / 60_000} minutes ` +
              "(a node that stopped answering?), and was stopped: what it did before that stands"
          )
        )
    })
  }).pipe(Effect.scoped)

const now = Effect.clockWith((clock) => Effect.succeed(clock.currentTimeMillisUnsafe()))

const json = (value: unknown) => Console.log(JSON.stringify(value, null, 2))

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

const dirFlag = Flag.String("dir").pipe(
  Flag.withDescription(
    "The cache directory (default: RECALL_CACHE_DIR, or the user's cache directory for recall; RECALL_REDIS_URL, when set, means Redis instead)"
  ),
  Flag.optional
)
const redisFlag = Flag.String("redis").pipe(
  Flag.withDescription(
    "Work on the Redis store at this URL (redis://host:port, rediss:// for TLS) instead of a directory (default: RECALL_REDIS_URL)"
  ),
  Flag.optional
)
const prefixFlag = Flag.String("prefix").pipe(
  Flag.withDescription("With --redis: the key prefix the program's store uses (default: RECALL_REDIS_PREFIX, or recall)"),
  Flag.optional
)
const jsonFlag = Flag.Boolean("json").pipe(Flag.withDescription("Print one JSON document instead of a table"), Flag.withDefault(false))

/** The command itself, with the flags every subcommand shares (given before or after the subcommand's name). */
const root = Command.make("recall").pipe(
  Command.withSharedFlags({ dir: dirFlag, redis: redisFlag, prefix: prefixFlag, json: jsonFlag }),
  Command.withDescription("Inspect, clear and prune what recall's persistent caches hold: a cache directory, or a Redis store")
)

const versionJson = (v: Version) => ({
  namespace: v.namespace,
  hash: v.hash,
  newest: v.newest,
  entries: v.entries,
  bytes: v.bytes,
  oldestWrite: v.oldestWrite,
  newestWrite: v.newestWrite,
  nextExpiry: finite(v.nextExpiry)
})

const ls = Command.make("ls", {}, () =>
  Effect.flatMap(root, ({ json: asJson, ...where }) =>
    withStore(where, (store, place) =>
      Effect.gen(function* () {
        const functions = groupByName(yield* store.list)
        const at = yield* now
        if (asJson) {
          return yield* json({
            ...place.json,
            functions: functions.map((f) => ({ name: f.name, entries: f.entries, bytes: f.bytes, versions: f.versions.map(versionJson) }))
          })
        }
        if (functions.length === 0) return yield* Console.log(`No cached functions in ${place.label}.${yield* place.elsewhere}`)
        const rows = functions.flatMap((f) =>
          f.versions.map((v) => [
            f.name,
            shortHash(v.hash) + (v.newest ? "" : " (old)"),
            String(v.entries),
            formatBytes(v.bytes),
            formatAge(v.oldestWrite, at),
            formatAge(v.newestWrite, at),
            formatExpiry(v.nextExpiry, at)
          ])
        )
        yield* Console.log(
          `${place.label}\n\n${table(["FUNCTION", "VERSION", "ENTRIES", "BYTES", "OLDEST", "NEWEST", "NEXT EXPIRY"], rows)}`
        )
      })
    )
  )
).pipe(
  Command.withDescription(
    "List cached functions, their code versions, entries, bytes, ages and next expiry (expired entries are swept first)"
  )
)

const stats = Command.make("stats", {}, () =>
  Effect.flatMap(root, ({ json: asJson, ...where }) =>
    withStore(where, (store, place) =>
      Effect.gen(function* () {
        const functions = groupByName(yield* store.list)
        // The totals from the same listing (one scan of the directory, not two).
        const totals = {
          namespaces: functions.reduce((n, f) => n + f.versions.length, 0),
          entries: functions.reduce((n, f) => n + f.entries, 0),
          bytes: functions.reduce((n, f) => n + f.bytes, 0)
        }
        const at = yield* now
        const oldVersions = functions.reduce((n, f) => n + f.versions.length - 1, 0)
        const oldEntries = functions.reduce((n, f) => n + f.versions.slice(1).reduce((m, v) => m + v.entries, 0), 0)
        const writes = functions.flatMap((f) => f.versions)
        const oldestWrite = writes.length === 0 ? null : Math.min(...writes.map((v) => v.oldestWrite))
        const newestWrite = writes.length === 0 ? null : Math.max(...writes.map((v) => v.newestWrite))
        const nextExpiry = Math.min(Infinity, ...writes.map((v) => v.nextExpiry))
        if (asJson) {
          return yield* json({
            ...place.json,
            functions: functions.length,
            versions: totals.namespaces,
            entries: totals.entries,
            bytes: totals.bytes,
            oldVersions,
            oldEntries,
            oldestWrite,
            newestWrite,
            nextExpiry: finite(nextExpiry)
          })
        }
        const age = (t: number | null) => (t === null ? "-" : `${formatAge(t, at)} ago`)
        yield* Console.log(
          [
            place.label,
            "",
            table(
              ["", ""],
              [
                ["functions", String(functions.length)],
                ["code versions", `${totals.namespaces} (${oldVersions} old, which prune removes)`],
                ["entries", `${totals.entries} (${oldEntries} in old versions)`],
                ["bytes", formatBytes(totals.bytes)],
                ["oldest write", age(oldestWrite)],
                ["newest write", age(newestWrite)],
                ["next expiry", writes.length === 0 ? "-" : formatExpiry(nextExpiry, at)]
              ]
            ).replace(/^\s*\n/, "")
          ].join("\n")
        )
      })
    )
  )
).pipe(Command.withDescription("Totals: functions, code versions, entries, bytes, ages and next expiry"))

/** For a name that matched nothing (a typo, say): the names that are cached, a few of them. */
const cachedThere = (namespaces: ReadonlyArray<CacheStore.NamespaceInfo>): string => {
  const names = [...new Set(namespaces.map((n) => parseNamespace(n.namespace).name))].sort()
  if (names.length === 0) return ""
  const shown = names.slice(0, 10).map((n) => JSON.stringify(n))
  const more = names.length > shown.length ? `, and ${names.length - shown.length} more (recall ls lists them)` : ""
  return ` The functions cached there: ${shown.join(", ")}${more}.`
}

const clear = Command.make(
  "clear",
  {
    name: Argument.String("name").pipe(
      Argument.withDescription("A cached function's name: clears all its code versions (default: everything)"),
      Argument.optional
    )
  },
  ({ name }) =>
    Effect.flatMap(root, ({ json: asJson, ...where }) =>
      withStore(where, (store, place) =>
        Effect.gen(function* () {
          const namespaces = yield* store.list
          const targets = Option.isSome(name) ? namespaces.filter((n) => parseNamespace(n.namespace).name === name.value) : namespaces
          if (Option.isSome(name)) yield* Effect.forEach(targets, (n) => store.clearNamespace(n.namespace), { discard: true })
          else yield* store.clearAll
          const entries = targets.reduce((n, t) => n + t.entries, 0)
          if (asJson) return yield* json({ ...place.json, cleared: targets.map((t) => t.namespace), entries })
          if (Option.isSome(name) && targets.length === 0) {
            return yield* Console.log(
              `Nothing cached for ${name.value} in ${place.label}.${cachedThere(namespaces)}${yield* place.elsewhere}`
            )
          }
          yield* Console.log(
            `Cleared ${Option.isSome(name) ? name.value : "everything"}: ${targets.length} code version(s), ${entries} entries, in ${place.label}.`
          )
        })
      )
    )
).pipe(Command.withDescription("Delete the entries of one cached function (all its code versions), or of every function"))

const prune = Command.make("prune", {}, () =>
  Effect.flatMap(root, ({ json: asJson, ...where }) =>
    withStore(where, (store, place) =>
      Effect.gen(function* () {
        // `list` sweeps expired entries first.
        const functions = groupByName(yield* store.list)
        const old = functions.flatMap((f) => f.versions.filter((v) => !v.newest))
        yield* Effect.forEach(old, (v) => store.clearNamespace(v.namespace), { discard: true })
        const entries = old.reduce((n, v) => n + v.entries, 0)
        if (asJson) return yield* json({ ...place.json, removed: old.map(versionJson), entries })
        if (old.length === 0) return yield* Console.log(`Expired entries swept; no old code versions in ${place.label}.`)
        const rows = old.map((v) => [v.name, shortHash(v.hash), String(v.entries), formatBytes(v.bytes)])
        yield* Console.log(
          `Expired entries swept; removed ${old.length} old code version(s), ${entries} entries, in ${place.label}:\n\n${table(["FUNCTION", "VERSION", "ENTRIES", "BYTES"], rows)}`
        )
      })
    )
  )
).pipe(Command.withDescription("Delete expired entries and every code version but the newest of each function"))

/**
 * The `recall` command and its subcommands `ls`, `stats`, `clear [name]`
 * and `prune`.
 *
 * @category commands
 * @since 0.1.0
 */
export const command = root.pipe(Command.withSubcommands([ls, stats, clear, prune]))

/**
 * Runs {@link command} on explicit arguments (without the program name),
 * e.g. `run(["ls", "--json"])`.
 *
 * @category running
 * @since 0.1.0
 */
export const run = Command.runWith(command, { version })
