/**
 * The Redis store behind `NodeCacheStore.layerRedis`: a CacheStore over a
 * node-redis client or cluster client. The contract and the key layout are
 * documented on `layerRedis` (NodeCacheStore.ts) and in docs/stores.md.
 *
 * @internal
 */
import { createHash, randomBytes } from "node:crypto"
import * as CacheStore from "@recall/core/CacheStore"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { RedisClientType, RedisClusterType } from "redis"
import * as NodeHasher from "../NodeHasher.ts"
import * as Notice from "./notice.ts"

/** A node-redis client (`createClient`), whatever its modules, scripts and protocol. */
export type RedisClient = RedisClientType<any, any, any, any, any>
/** A node-redis cluster client (`createCluster`). */
export type RedisClusterClient = RedisClusterType<any, any, any, any, any>

export interface Options {
  readonly url?: string | undefined
  readonly client?: RedisClient | RedisClusterClient | undefined
  readonly prefix?: string | undefined
}

// ---------------------------------------------------------------------------
// Entry values
// ---------------------------------------------------------------------------

// An entry's value: a 32-byte header, the namespace and the key (UTF-8),
// zeros up to a multiple of 8 bytes, then the payload.
//   0  magic "RRS1"
//   4  namespace byte length, u32 LE
//   8  key byte length, u32 LE
//  12  zero
//  16  writtenAt, f64 LE (epoch ms)
//  24  expiresAt, f64 LE (epoch ms; Infinity never)
const MAGIC = 0x31535252 // "RRS1" little-endian
const HEADER_BYTES = 32
const payloadStart = (namesLength: number): number => Math.ceil((HEADER_BYTES + namesLength) / 8) * 8
const encoder = new TextEncoder()

/**
 * An entry's value in Redis: its header and names (zeros up to a multiple
 * of 8), with room after them for `payloadBytes` more, which `packEntry`
 * fills and a large write sends apart (APPEND), so that it is never copied.
 */
const packHead = (namespace: string, key: string, writtenAt: number, expiresAt: number, payloadBytes: number): Buffer => {
  const ns = encoder.encode(namespace)
  const k = encoder.encode(key)
  const out = Buffer.alloc(payloadStart(ns.byteLength + k.byteLength) + payloadBytes)
  out.writeUInt32LE(MAGIC, 0)
  out.writeUInt32LE(ns.byteLength, 4)
  out.writeUInt32LE(k.byteLength, 8)
  out.writeDoubleLE(writtenAt, 16)
  out.writeDoubleLE(expiresAt, 24)
  out.set(ns, HEADER_BYTES)
  out.set(k, HEADER_BYTES + ns.byteLength)
  return out
}

const packEntry = (namespace: string, key: string, bytes: Uint8Array, writtenAt: number, expiresAt: number): Buffer => {
  const out = packHead(namespace, key, writtenAt, expiresAt, bytes.byteLength)
  out.set(bytes, out.byteLength - bytes.byteLength)
  return out
}

/** The header of an entry's value (the first bytes of one will do): its names' lengths, where the payload starts, its times; none when it is not an entry's. */
const headerOf = (value: Buffer) => {
  if (value.byteLength < HEADER_BYTES || value.readUInt32LE(0) !== MAGIC) return undefined
  const nsLength = value.readUInt32LE(4)
  const keyLength = value.readUInt32LE(8)
  return {
    nsLength,
    keyLength,
    start: payloadStart(nsLength + keyLength),
    writtenAt: value.readDoubleLE(16),
    expiresAt: value.readDoubleLE(24)
  }
}

/** The entry in a value, if it is one of this namespace and key. */
const unpackEntry = (value: Buffer, namespace: string, key: string): CacheStore.StoredEntry | undefined => {
  const header = headerOf(value)
  if (header === undefined || header.start > value.byteLength) return undefined
  const { nsLength, keyLength, start } = header
  const ns = value.toString("utf8", HEADER_BYTES, HEADER_BYTES + nsLength)
  const k = value.toString("utf8", HEADER_BYTES + nsLength, HEADER_BYTES + nsLength + keyLength)
  // Names are hashed into keys: a collision reads as a miss, never as another key's value.
  if (ns !== namespace || k !== key) return undefined
  const payload = value.subarray(start)
  // The reply is the caller's (no later operation writes to it); a copy only to align it for any typed array.
  const bytes =
    payload.byteOffset % 8 === 0 ? new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength) : new Uint8Array(payload)
  return { bytes, writtenAt: header.writtenAt, expiresAt: header.expiresAt }
}

/** An entry's key after the prefix: its base's hash tag, and its key's hash. */
const ENTRY_KEY = /^(:\{[0-9a-f]{32}\}):e:([0-9a-f]{32})$/

/** The bytes of an entry's value read to find its names ({@link headOfEntry}): its header and names, which are small. */
const HEAD_READ_BYTES = 4096

/** The names and times of an entry from the first bytes of its value and its whole length; none when they are not an entry's. */
const headOfEntry = (
  head: Buffer,
  length: number
): { readonly namespace: string; readonly writtenAt: number; readonly expiresAt: number; readonly bytes: number } | undefined => {
  const header = headerOf(head)
  if (header === undefined || HEADER_BYTES + header.nsLength > head.byteLength || header.start > length) return undefined
  return {
    namespace: head.toString("utf8", HEADER_BYTES, HEADER_BYTES + header.nsLength),
    writtenAt: header.writtenAt,
    expiresAt: header.expiresAt,
    bytes: length - header.start
  }
}

// ---------------------------------------------------------------------------
// Scripts
// ---------------------------------------------------------------------------

interface Script {
  readonly source: string
  readonly sha: string
}

const script = (source: string): Script => ({ source, sha: createHash("sha1").update(source).digest("hex") })

// Index fields are a key's hash (32 hex digits); the namespace's own name is kept under this one.
const NAMESPACE_FIELD = "@namespace"

/**
 * `indexed(idx, meta)`: whether a namespace's index keys are of their types
 * (or missing). A key of another type there (written by hand, or by another
 * program) would make the index commands fail part way through a script,
 * after its first writes (Redis does not roll a script back): writes check
 * first and refuse, saying which key to delete; removals skip the index.
 */
const INDEXED = `
local function indexed(idx, meta)
  local i = redis.call("TYPE", idx)["ok"]
  local m = redis.call("TYPE", meta)["ok"]
  return (i == "none" or i == "zset") and (m == "none" or m == "hash")
end
local function refuse(idx, meta)
  return redis.error_reply("recall's index of this namespace (" .. idx .. ", " .. meta .. ") holds a key of another type; delete those keys (recall clear, or DEL) to let writes in")
end
`

/**
 * Drops index members that expired at `now` (on the caller's clock), with
 * their entries: at most `limit` of them. `idx`, `meta`, the entry prefix.
 */
const PRUNE = `${INDEXED}
local function prune(idx, meta, entries, now, limit)
  local gone = redis.call("ZRANGEBYSCORE", idx, "-inf", now, "LIMIT", 0, limit)
  for i = 1, #gone do
    redis.call("DEL", entries .. gone[i])
    redis.call("HDEL", meta, gone[i])
  end
  for i = 1, #gone, 1000 do redis.call("ZREM", idx, unpack(gone, i, math.min(i + 999, #gone))) end
  if redis.call("HLEN", meta) <= 1 then redis.call("DEL", meta, idx) end
end
`

/** KEYS: entry, index, meta. ARGV: value, px ("" never), field, "writtenAt expiresAt bytes", namespace, score, now, entry prefix. */
const SET = script(`${PRUNE}
if not indexed(KEYS[2], KEYS[3]) then return refuse(KEYS[2], KEYS[3]) end
if ARGV[2] == "" then redis.call("SET", KEYS[1], ARGV[1]) else redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2]) end
redis.call("ZADD", KEYS[2], ARGV[6], ARGV[3])
redis.call("HSET", KEYS[3], ARGV[3], ARGV[4], "${NAMESPACE_FIELD}", ARGV[5])
prune(KEYS[2], KEYS[3], ARGV[8], ARGV[7], 64)
return 1`)

/**
 * KEYS: entry, index, meta, generation. ARGV: generation, then SET's. The
 * write of a computation that began at that generation: nothing when a
 * delete or clear changed it since (0), else SET (1).
 */
const SET_IF = script(`${PRUNE}
if redis.call("GET", KEYS[4]) ~= ARGV[1] then return 0 end
if not indexed(KEYS[2], KEYS[3]) then return refuse(KEYS[2], KEYS[3]) end
if ARGV[3] == "" then redis.call("SET", KEYS[1], ARGV[2]) else redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[3]) end
redis.call("ZADD", KEYS[2], ARGV[7], ARGV[4])
redis.call("HSET", KEYS[3], ARGV[4], ARGV[5], "${NAMESPACE_FIELD}", ARGV[6])
prune(KEYS[2], KEYS[3], ARGV[9], ARGV[8], 64)
return 1`)

/**
 * KEYS: a temporary key holding the value, entry, index, meta, generation.
 * ARGV: a generation ("" for none: no check), then SET's without the value.
 * Moves a large value, written to the temporary key by a plain SET of its
 * head and an APPEND of its payload, into place: a script's arguments are copied into Lua and out again (a 1 MB
 * value costs about 1.1 ms more through a script than through a SET), a
 * RENAME moves nothing. ARGV[9]: the value's whole length. Refused (0) like
 * SET_IF when the generation changed, and (0) when the temporary key is not
 * that long (gone after its own expiry, or a part's command failed): the
 * temporary key is deleted whenever the value is not moved.
 */
const PLACE = script(`${PRUNE}
if ARGV[1] ~= "" and redis.call("GET", KEYS[5]) ~= ARGV[1] then redis.call("DEL", KEYS[1]) return 0 end
if redis.call("STRLEN", KEYS[1]) ~= tonumber(ARGV[9]) then redis.call("DEL", KEYS[1]) return 0 end
if not indexed(KEYS[3], KEYS[4]) then redis.call("DEL", KEYS[1]) return refuse(KEYS[3], KEYS[4]) end
redis.call("RENAME", KEYS[1], KEYS[2])
if ARGV[2] == "" then redis.call("PERSIST", KEYS[2]) else redis.call("PEXPIRE", KEYS[2], ARGV[2]) end
redis.call("ZADD", KEYS[3], ARGV[6], ARGV[3])
redis.call("HSET", KEYS[4], ARGV[3], ARGV[4], "${NAMESPACE_FIELD}", ARGV[5])
prune(KEYS[3], KEYS[4], ARGV[8], ARGV[7], 64)
return 1`)

/** Values of at least this many bytes are written apart, then moved into place ({@link PLACE}). */
const PLACE_BYTES = 64 * 1024

/**
 * How long a temporary key of {@link PLACE} lives: far longer than the two
 * commands between its SET and its move, so a writer that dies between them
 * leaves it for this long at most.
 */
const PLACE_TEMPORARY_MILLIS = "600000"

/**
 * A namespace's generation is a random token, new at every change: a
 * counter would start again at 0 when its key is lost (Redis restarted
 * without persistence, or evicted it), and a delete then would give a
 * computation in flight its old generation back, letting its value in over
 * the delete. A lost key refuses every computation that read it.
 *
 * It lives a day past its last change: a computation
 * that began before a delete or clear and ends a day after it could write
 * again; anything shorter cannot. (So generations of namespaces long gone
 * leave Redis too.)
 */
const GENERATION_MILLIS = "86400000"

/** A new generation token: 128 random bits. */
const newGeneration = (): string => randomBytes(16).toString("hex")

/**
 * KEYS: generation. ARGV: a new token. A computation's read of its
 * namespace's generation, which makes the key (with the new token) when it
 * is missing: a `clearAll`, which finds namespaces by scanning, then finds
 * every namespace a computation is in flight for, and changes its
 * generation too.
 */
const CURRENT = script(`
local value = redis.call("GET", KEYS[1])
if not value then
  value = ARGV[1]
  redis.call("SET", KEYS[1], value)
end
redis.call("PEXPIRE", KEYS[1], ${GENERATION_MILLIS})
return value`)

/**
 * The namespace's generation changed to a new token (KEYS[n], the token): or,
 * where Redis refuses the SET (a full Redis under `noeviction` refuses every
 * command that may grow it), the key deleted, which refuses every computation
 * that read it just the same (see {@link GENERATION_MILLIS}). Last in a removal's
 * script, after its deletes: a failing SET first would end the script before
 * them, and a full Redis could then never be cleared (found by an attack trial).
 */
const CHANGE_GENERATION = `
local function changeGeneration(key, token)
  local set = redis.pcall("SET", key, token, "PX", ${GENERATION_MILLIS})
  if type(set) == "table" and set.err then redis.call("DEL", key) end
end
`

/**
 * KEYS: entry, index, meta, generation. ARGV: field, a new token, and a
 * channel and a notice to publish on it ("" for none). Changes the
 * namespace's generation.
 */
const DELETE = script(`${INDEXED}${CHANGE_GENERATION}
redis.call("DEL", KEYS[1])
if indexed(KEYS[2], KEYS[3]) then
  redis.call("ZREM", KEYS[2], ARGV[1])
  redis.call("HDEL", KEYS[3], ARGV[1])
  if redis.call("HLEN", KEYS[3]) <= 1 then redis.call("DEL", KEYS[3], KEYS[2]) end
end
changeGeneration(KEYS[4], ARGV[2])
if ARGV[3] ~= "" then redis.call("PUBLISH", ARGV[3], ARGV[4]) end
return 1`)

/**
 * KEYS: index, meta, generation. ARGV: entry prefix, a new token. Changes
 * the namespace's generation, deletes the entries its index names, and the
 * index (whatever its type). Entries the index lost (Redis evicted it) are
 * left to a scan after it, and the notice to the publish after that (see
 * `clearNamespace`).
 */
const CLEAR_NAMESPACE = script(`${INDEXED}${CHANGE_GENERATION}
local fields = {}
if indexed(KEYS[1], KEYS[2]) then fields = redis.call("ZRANGE", KEYS[1], 0, -1) end
for i = 1, #fields do redis.call("DEL", ARGV[1] .. fields[i]) end
redis.call("DEL", KEYS[1], KEYS[2])
changeGeneration(KEYS[3], ARGV[2])
return #fields`)

/**
 * KEYS: index, meta. ARGV: now, entry prefix. Prunes what expired (and
 * index members whose entries Redis dropped itself), then returns the
 * namespace's name, then each live entry's field (its key's hash) and
 * "writtenAt expiresAt bytes".
 */
const LIST = script(`${PRUNE}
if not indexed(KEYS[1], KEYS[2]) then return {} end
prune(KEYS[1], KEYS[2], ARGV[2], ARGV[1], 1000000)
local name = redis.call("HGET", KEYS[2], "${NAMESPACE_FIELD}")
if not name then return {} end
local out = { name }
local fields = redis.call("ZRANGE", KEYS[1], 0, -1)
local dropped = {}
for i = 1, #fields do
  if redis.call("EXISTS", ARGV[2] .. fields[i]) == 1 then
    local meta = redis.call("HGET", KEYS[2], fields[i])
    if meta then
      out[#out + 1] = fields[i]
      out[#out + 1] = meta
    end
  else
    dropped[#dropped + 1] = fields[i]
  end
end
for i = 1, #dropped do redis.call("HDEL", KEYS[2], dropped[i]) end
for i = 1, #dropped, 1000 do redis.call("ZREM", KEYS[1], unpack(dropped, i, math.min(i + 999, #dropped))) end
if #out == 1 then redis.call("DEL", KEYS[1], KEYS[2]) return {} end
return out`)

/**
 * KEYS: entry, index, meta. ARGV: field, "writtenAt expiresAt bytes", the
 * namespace, score. Puts an entry its namespace's index lost (Redis evicted
 * the index or the names, `allkeys-*`) back in it, read from the entry's
 * own head: 1, or 0 when the entry is gone meanwhile.
 */
const REINDEX = script(`${INDEXED}
if redis.call("EXISTS", KEYS[1]) == 0 or not indexed(KEYS[2], KEYS[3]) then return 0 end
redis.call("ZADD", KEYS[2], ARGV[4], ARGV[1])
redis.call("HSET", KEYS[3], ARGV[1], ARGV[2], "${NAMESPACE_FIELD}", ARGV[3])
return 1`)

// A lock's value: "<token>|<expiresAt on the holder's Clock>", with a Redis expiry (PX) too.
const LOCK_STATE = `
local function holder(value)
  if not value then return nil, nil end
  local sep = string.find(value, "|", 1, true)
  if not sep then return "", 0 end
  return string.sub(value, 1, sep - 1), tonumber(string.sub(value, sep + 1)) or 0
end
`

/** What a lock's value starts with once its holder gave it back after a failure. */
const FAILED_MARK = "failed:"
/** How long such a value stays (it is expired from the start): long past a waiter's slowest poll. */
const FAILED_MARK_MILLIS = 10_000

/** KEYS: lock. ARGV: token, expiresAt, px ("" none), now. 1 when taken. */
const ACQUIRE = script(`${LOCK_STATE}
local token, expiresAt = holder(redis.call("GET", KEYS[1]))
if token and expiresAt > tonumber(ARGV[4]) then return 0 end
if ARGV[3] == "" then redis.call("SET", KEYS[1], ARGV[1] .. "|" .. ARGV[2])
else redis.call("SET", KEYS[1], ARGV[1] .. "|" .. ARGV[2], "PX", ARGV[3]) end
return 1`)

/** KEYS: lock. ARGV: token, expiresAt, px ("" none), now. 1 when renewed. */
const RENEW = script(`${LOCK_STATE}
local token, expiresAt = holder(redis.call("GET", KEYS[1]))
if token ~= ARGV[1] or expiresAt <= tonumber(ARGV[4]) then return 0 end
if ARGV[3] == "" then redis.call("SET", KEYS[1], ARGV[1] .. "|" .. ARGV[2])
else redis.call("SET", KEYS[1], ARGV[1] .. "|" .. ARGV[2], "PX", ARGV[3]) end
return 1`)

/**
 * KEYS: lock. ARGV: token, channel, failed ("1" or ""). Gives the lock back if
 * it is the token's and tells the waiters. After a failed computation the
 * lock stays a little while as `failed:<token>|0`, expired (free to take),
 * for waiters that poll rather than listen; the message says `failed`.
 */
const RELEASE = script(`${LOCK_STATE}
local token = holder(redis.call("GET", KEYS[1]))
if token ~= ARGV[1] then return 0 end
if ARGV[3] == "1" then
  redis.call("SET", KEYS[1], "${FAILED_MARK}" .. ARGV[1] .. "|0", "PX", ${FAILED_MARK_MILLIS})
  redis.call("PUBLISH", ARGV[2], "failed")
else
  redis.call("DEL", KEYS[1])
  redis.call("PUBLISH", ARGV[2], "released")
end
return 1`)

// ---------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------

const BLOB_STRING = 36 // RESP_TYPES.BLOB_STRING: bulk replies as Buffers
const BUFFERS = { [BLOB_STRING]: Buffer } as const
/**
 * node-redis's own command timeout, off for every command the store sends: the store's deadline
 * (`storeTimeout`) bounds every operation already, and node-redis's (5 s by default since v6)
 * costs each command an `AbortSignal.timeout`, its listener and a timer, and a `DOMException`
 * when that timer fires, reply or not: about a sixth of the CPU of a hit.
 */
const UNTIMED = { timeout: 0 } as const
/** The options of a command whose bulk replies are Buffers (one object for every such command). */
const BUFFER_REPLIES = { typeMapping: BUFFERS, ...UNTIMED } as const

type Argument = string | Buffer

interface Subscriber {
  readonly subscribe: (channel: string, listener: (message: string) => void) => Promise<void>
  readonly unsubscribe: (channel: string, listener: (message: string) => void) => Promise<void>
  readonly close: () => void
}

/** One way to talk to a client or a cluster client alike. */
interface Connection {
  readonly isReady: () => boolean
  /** A command routed by `key`; bulk replies as Buffers. */
  readonly send: (key: string, args: ReadonlyArray<Argument>, signal?: AbortSignal) => Promise<unknown>
  /** Every key matching `pattern`, by SCAN, on every master. */
  readonly scan: (pattern: string, signal: AbortSignal) => Promise<ReadonlyArray<string>>
  readonly subscriber: () => Promise<Subscriber>
  /** Closes the subscriber, if one was made. */
  readonly close: () => Promise<void>
}

const isCluster = (client: RedisClient | RedisClusterClient): client is RedisClusterClient =>
  "masters" in client && typeof (client as RedisClusterClient).nodeClient === "function"

const scanClient = async (client: RedisClient, pattern: string, signal: AbortSignal, into: Array<string>) => {
  let cursor = "0"
  do {
    const [next, keys] = (await client.sendCommand(["SCAN", cursor, "MATCH", pattern, "COUNT", "1000"], {
      ...UNTIMED,
      abortSignal: signal
    })) as [string, Array<string>]
    cursor = String(next)
    for (const key of keys) into.push(String(key))
  } while (cursor !== "0")
}

const makeSubscriber = (client: RedisClient | RedisClusterClient): { readonly ready: Promise<Subscriber>; readonly close: () => void } => {
  // Its own connection: a connection subscribed to channels runs no other commands (RESP2).
  const duplicate = client.duplicate() as RedisClient | RedisClusterClient
  duplicate.on("error", () => {
    // A dropped subscriber: waiters fall back to polling; node-redis reconnects and resubscribes.
  })
  const close = () => {
    if (duplicate.isOpen) duplicate.destroy()
  }
  const ready = duplicate.connect().then(
    (): Subscriber => ({
      subscribe: (channel, listener) => duplicate.subscribe(channel, listener) as Promise<void>,
      unsubscribe: (channel, listener) => duplicate.unsubscribe(channel, listener as never) as Promise<void>,
      close
    })
  )
  return { ready, close }
}

const connectionOf = (client: RedisClient | RedisClusterClient): Connection => {
  let subscriber: ReturnType<typeof makeSubscriber> | undefined
  const shared = {
    // node-redis 5's cluster client has no `isReady` (6's has): there it is ready once open with its slots
    // known, its masters listed (found by an attack trial: with redis@5, every operation on a cluster failed as
    // "not connected").
    isReady: () => (client as { readonly isReady?: boolean }).isReady ?? (client.isOpen && isCluster(client) && client.masters.length > 0),
    subscriber: () => {
      if (subscriber === undefined) {
        const made = makeSubscriber(client)
        subscriber = made
        made.ready.catch(() => {
          made.close()
          if (subscriber === made) subscriber = undefined
        })
      }
      return subscriber.ready
    },
    close: async () => {
      subscriber?.close()
      subscriber = undefined
    }
  }
  if (isCluster(client)) {
    return {
      ...shared,
      send: (key, args, signal) =>
        client.sendCommand(
          key,
          false,
          args as Array<Argument>,
          signal === undefined ? BUFFER_REPLIES : { ...BUFFER_REPLIES, abortSignal: signal }
        ),
      scan: async (pattern, signal) => {
        const keys: Array<string> = []
        for (const master of client.masters) await scanClient(await client.nodeClient(master), pattern, signal, keys)
        return keys
      }
    }
  }
  return {
    ...shared,
    send: (_key, args, signal) =>
      client.sendCommand(args, signal === undefined ? BUFFER_REPLIES : { ...BUFFER_REPLIES, abortSignal: signal }),
    scan: async (pattern, signal) => {
      const keys: Array<string> = []
      await scanClient(client, pattern, signal, keys)
      return keys
    }
  }
}

// ---------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------

interface NamespaceKeys {
  readonly entries: string
  readonly index: string
  readonly meta: string
  readonly locks: string
  readonly released: string
  readonly generation: string
  /** Where a large value waits for its move into place ({@link PLACE}). */
  readonly temporary: string
}

const names = new Map<string, string>()

/** The hashed name of a namespace or key (remembered: a SHA-256 per operation is no small part of a hit). */
const nameOf = (text: string): string => {
  let name = names.get(text)
  if (name === undefined) {
    name = createHash("sha256").update(text).digest("hex").slice(0, 32)
    // Bounded: a program with very many keys starts over rather than grow without end.
    if (names.size >= 10_000) names.clear()
    names.set(text, name)
  }
  return name
}
const millisOf = (ttl: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(ttl))
/** A glob pattern matching `text` literally. */
const globEscape = (text: string): string => text.replace(/[*?[\]\\]/g, (c) => `\\${c}`)
/** A time as Redis and Lua read it: `inf` is not a number in Lua's `tonumber` everywhere. */
const FOREVER = "1e300"
const timeArg = (t: number): string => (Number.isFinite(t) ? String(t) : FOREVER)
const parseTime = (text: string): number => {
  const n = Number(text)
  return n >= 1e300 ? Infinity : n
}

/** A sleep in real time, for polling Redis (which no virtual clock moves). */
const pause = (millis: number): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), millis)
    return Effect.sync(() => clearTimeout(timer))
  })

const describe = (cause: unknown): string => {
  if (cause instanceof AggregateError && cause.errors.length > 0) return describe(cause.errors[0])
  const message = cause instanceof Error ? cause.message || cause.name : String(cause)
  const code = (cause as { readonly code?: unknown } | undefined)?.code
  return typeof code === "string" && !message.includes(code) ? `${message} (${code})` : message
}

/**
 * Why a client is not connected, for a message: the last error with what to
 * do about it (a server that wants a password says only `NOAUTH`), or, with
 * none yet, a connection that the server has not answered. Whether anyone
 * tries again is not said here: a program's store does (its tier says so), a
 * command that stops at the first failure does not.
 */
const notConnectedBecause = (lastError: unknown, where: string): string => {
  if (lastError === undefined) {
    return "the server has not answered yet (a stopped or overloaded Redis, or something else listening on that port)"
  }
  const said = describe(lastError)
  if (/^NOAUTH\b/.test(said)) {
    return `${said}: this Redis wants a password; put it in the URL (redis://:PASSWORD@host:port, or redis://USER:PASSWORD@host:port for an ACL user) or in the client's options`
  }
  // A TLS port resets a plain connection's first bytes.
  if (/ECONNRESET/.test(said) && where.startsWith("redis://")) {
    return `${said}: if that port speaks TLS, use a rediss:// url`
  }
  return said
}

/**
 * `url` as messages show it: whatever stands between its scheme and its last
 * `@` (a user and a password) hidden, so a URL that does not parse (a missing
 * slash, a bad port) shows no password either.
 *
 * @internal
 */
export const hideCredentials = (url: string): string =>
  url.replace(/^([a-z][a-z0-9+.-]*:\/*)?.*@/is, (_, scheme?: string) => `${scheme ?? ""}***@`)

/** What is wrong with `url` as a Redis URL for node-redis, or `undefined`. */
const urlProblem = (url: unknown): string | undefined => {
  if (typeof url !== "string") return `is a ${typeof url}, not a string`
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return "is not a URL"
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") return `has the scheme ${parsed.protocol}, not redis: or rediss:`
  if (parsed.host === "") return "has no host (write redis://host:port, with two slashes)"
  return undefined
}

export const make = (options: Options): Effect.Effect<CacheStore.Service, CacheStore.CacheStoreError, import("effect/Scope").Scope> =>
  Effect.gen(function* () {
    const prefix = options.prefix ?? "recall"
    if (prefix === "") {
      // As Effect's Config reads an empty RECALL_REDIS_PREFIX (not set: the default), so "" never names a store of its own.
      return yield* new CacheStore.CacheStoreError({
        operation: "start",
        reason: 'the Redis key prefix is empty; leave it out for the default ("recall"), or choose a name of its own for this store'
      })
    }
    if (/[{}]/.test(prefix)) {
      return yield* new CacheStore.CacheStoreError({
        operation: "start",
        reason: `the Redis key prefix ${JSON.stringify(prefix)} contains { or }, which would change the keys' hash tags; choose a prefix without braces`
      })
    }
    const url = options.url ?? "redis://127.0.0.1:6379"
    const where = options.client === undefined ? hideCredentials(String(url)) : "the given client"
    const badUrl = options.client === undefined ? urlProblem(url) : undefined
    if (badUrl !== undefined) {
      // Found by a stranger trial: a URL that does not parse failed the build with node-redis's bare "Invalid URL".
      return yield* new CacheStore.CacheStoreError({
        operation: "start",
        reason: `the Redis URL ${JSON.stringify(where)} (the \`url\` option, or RECALL_REDIS_URL) ${badUrl}; give one such as redis://127.0.0.1:6379, rediss://cache.internal:6380 for TLS, or redis://user:password@host:6379/0`
      })
    }
    // Every hit checks its payload's XXH3-128: the native one is about ten times hash-wasm's speed on a 1 MB value.
    yield* NodeHasher.install
    let lastError: unknown
    /** Settles with the first connection attempt (ready or failed), so that the first operations wait for it. */
    let firstAttempt: Promise<void> | undefined
    /** Set when the store's scope closed: its client is gone for good, and operations say so at once. */
    let closed = false

    const watch = (client: RedisClient | RedisClusterClient) => {
      const onError = (cause: unknown) => {
        lastError = cause
      }
      client.on("error", onError)
      return () => void client.off("error", onError)
    }

    const connection = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          let client: RedisClient | RedisClusterClient
          let own = false
          if (options.client !== undefined) client = options.client
          else {
            const redis = await import("redis")
            own = true
            client = redis.createClient({
              url,
              // Fail at once while disconnected (the store reports it), instead of queueing until Redis returns.
              disableOfflineQueue: true,
              socket: {
                connectTimeout: 2_000,
                // Never give up: a layer built while Redis is down connects when it comes up.
                reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1_000) + Math.floor(Math.random() * 100)
              }
            }) as RedisClient
          }
          const unwatch = watch(client)
          if (!client.isOpen) {
            firstAttempt = new Promise<void>((resolve) => {
              const settle = () => {
                client.off("ready", settle)
                client.off("error", settle)
                resolve()
              }
              client.on("ready", settle)
              client.on("error", settle)
            })
            client.connect().catch((cause: unknown) => {
              lastError = cause
            })
          }
          return { client, own, unwatch, connection: connectionOf(client) }
        },
        // Not the cause itself: Node's URL errors carry the URL (`input`), password and all.
        catch: (cause) => new CacheStore.CacheStoreError({ operation: "start", reason: `cannot make a Redis client: ${describe(cause)}` })
      }),
      ({ client, own, unwatch, connection }) =>
        Effect.promise(async () => {
          closed = true
          unwatch()
          await connection.close()
          if (own && client.isOpen) client.destroy()
        })
    ).pipe(Effect.map(({ connection }) => connection))

    const failed =
      (operation: string) =>
      (cause: unknown): CacheStore.CacheStoreError =>
        cause instanceof CacheStore.CacheStoreError
          ? cause
          : new CacheStore.CacheStoreError({ operation, reason: `Redis (${where}): ${describe(cause)}`, cause })

    /** `f` on a ready connection, or an error while Redis is unreachable (the first attempt is awaited, 2 s at most). */
    const onReady = async <A>(operation: string, f: (c: Connection) => Promise<A>) => {
      if (closed) {
        throw new CacheStore.CacheStoreError({
          operation,
          reason: `the Redis store (${where}) is closed: its layer's scope ended; use the store inside the scope that provides it`
        })
      }
      if (!connection.isReady() && firstAttempt !== undefined) {
        await Promise.race([firstAttempt, new Promise((resolve) => setTimeout(resolve, 2_000).unref())])
      }
      if (!connection.isReady()) {
        throw new CacheStore.CacheStoreError({
          operation,
          reason: `not connected to Redis (${where}): ${notConnectedBecause(lastError, where)}`,
          cause: lastError
        })
      }
      return f(connection)
    }

    /** Runs `f` on a ready connection; fails at once while Redis is unreachable (the first attempt is awaited, 2 s at most). */
    const use = <A>(
      operation: string,
      f: (c: Connection, signal: AbortSignal) => Promise<A>
    ): Effect.Effect<A, CacheStore.CacheStoreError> =>
      Effect.tryPromise({ try: (signal) => onReady(operation, (c) => f(c, signal)), catch: failed(operation) })

    /**
     * {@link use} for a read, which a late reply cannot harm: it is given no
     * abort signal (an AbortController and its listeners per command are no
     * small part of a hit), and a ready connection is used at once.
     */
    const read = <A>(operation: string, f: (c: Connection) => Promise<A>): Effect.Effect<A, CacheStore.CacheStoreError> =>
      Effect.tryPromise({ try: () => (connection.isReady() ? f(connection) : onReady(operation, f)), catch: failed(operation) })

    const evalScript = (c: Connection, s: Script, keys: ReadonlyArray<string>, args: ReadonlyArray<Argument>, signal: AbortSignal) =>
      c.send(keys[0]!, ["EVALSHA", s.sha, String(keys.length), ...keys, ...args], signal).catch((e: unknown) => {
        if (describe(e).startsWith("NOSCRIPT")) return c.send(keys[0]!, ["EVAL", s.source, String(keys.length), ...keys, ...args], signal)
        throw e
      })

    const now = Effect.clockWith((clock) => Effect.succeed(clock.currentTimeMillisUnsafe()))

    // Keys: the namespace's hash in a hash tag, so that its entries, index and locks share one slot.
    const base = (namespace: string) => `${prefix}:{${nameOf(namespace)}}`
    // A namespace's keys, remembered: every operation needs them, and a SHA-256 per operation is no small part of a hit.
    const namespaceKeys = new Map<string, NamespaceKeys>()
    const keysOf = (namespace: string): NamespaceKeys => {
      let keys = namespaceKeys.get(namespace)
      if (keys === undefined) {
        const b = base(namespace)
        keys = {
          entries: `${b}:e:`,
          index: `${b}:i`,
          meta: `${b}:m`,
          locks: `${b}:l:`,
          released: `${b}:r:`,
          generation: `${b}:g`,
          temporary: `${b}:t:`
        }
        // Bounded: a program with very many namespaces starts over rather than grow without end.
        if (namespaceKeys.size >= 10_000) namespaceKeys.clear()
        namespaceKeys.set(namespace, keys)
      }
      return keys
    }

    /** Deletes an entry; `notify`: and tells the other instances of the store (a `delete`, not an expiry). */
    const remove = (namespace: string, key: string, operation: string, notify = false) => {
      const k = keysOf(namespace)
      const field = nameOf(key)
      const notice = notify ? [noticeChannel, noticeOf({ _tag: "Deleted", namespace, key })] : ["", ""]
      return use(operation, (c, signal) =>
        evalScript(c, DELETE, [k.entries + field, k.index, k.meta, k.generation], [field, newGeneration(), ...notice], signal)
      )
    }

    // Notices: every removal through this instance is published on one channel of the prefix, marked with this
    // instance's origin, so that the others (other processes' layers) drop their front tiers' copies.
    const noticeChannel = `${prefix}:notices`
    const origin = randomBytes(8).toString("hex")
    const noticeOf = (notice: CacheStore.Notice): string => Notice.encode(origin, notice)

    /**
     * Listens to the notices of the other instances while the scope lasts.
     * With Redis connected, it returns once subscribed (waiting a second at
     * most); otherwise it subscribes in the background as soon as Redis can
     * be reached (trying again every second; node-redis resubscribes by itself
     * after a reconnect): building a layer never waits for a Redis that is
     * down. Notices sent while it is not subscribed are not heard.
     */
    const subscribeNotices = (onNotice: (notice: CacheStore.Notice) => void) => {
      const listener = (message: string) => {
        const notice = Notice.decode(message, origin)
        if (notice !== undefined) onNotice(notice)
      }
      return Effect.asVoid(
        Effect.acquireRelease(
          Effect.promise(async () => {
            let stopped = false
            let subscribed: Subscriber | undefined
            let retry: ReturnType<typeof setTimeout> | undefined
            const attempt = (): Promise<void> => {
              if (stopped) return Promise.resolve()
              return connection
                .subscriber()
                .then(async (s) => {
                  await s.subscribe(noticeChannel, listener)
                  subscribed = s
                  if (stopped) await s.unsubscribe(noticeChannel, listener)
                })
                .catch(() => {
                  if (!stopped) retry = setTimeout(attempt, 1_000).unref()
                })
            }
            const first = attempt()
            if (connection.isReady()) {
              await Promise.race([first, new Promise<void>((resolve) => setTimeout(resolve, 1_000).unref())])
            }
            return () => {
              stopped = true
              if (retry !== undefined) clearTimeout(retry)
              subscribed?.unsubscribe(noticeChannel, listener).catch(() => undefined)
            }
          }),
          (stop) => Effect.sync(stop)
        )
      )
    }

    // The hit path: one GET, and no more Effect steps than it needs.
    const get = (namespace: string, key: string) =>
      Effect.clockWith((clock) => {
        const redisKey = keysOf(namespace).entries + nameOf(key)
        return Effect.flatMap(
          read("get", (c) => c.send(redisKey, ["GET", redisKey])),
          (value): Effect.Effect<Option.Option<CacheStore.StoredEntry>, CacheStore.CacheStoreError> => {
            if (value === null || value === undefined) return Effect.succeedNone
            const entry = Buffer.isBuffer(value) ? unpackEntry(value, namespace, key) : undefined
            if (entry === undefined) {
              // Not this key's entry (cut short, not an entry, another key's value copied there): damage to hear of.
              const warning = Effect.logWarning(
                `recall: the Redis store's value at ${redisKey} is not this key's entry (cut short, not an entry, or another key's value): ` +
                  "it is not used and is deleted, and the value is computed again."
              )
              return Effect.as(Effect.andThen(remove(namespace, key, "get"), warning), Option.none())
            }
            if (entry.expiresAt <= clock.currentTimeMillisUnsafe()) return Effect.as(remove(namespace, key, "get"), Option.none())
            return Effect.succeedSome(entry)
          }
        )
      })

    /** The generation keys of the namespaces that `keys` (keys of this prefix) belong to. */
    const generationKeysOf = (keys: ReadonlyArray<string>): Set<string> => {
      const generations = new Set<string>()
      for (const key of keys) {
        const end = key.indexOf("}:")
        if (key.startsWith(`${prefix}:{`) && end > 0) generations.add(`${key.slice(0, end + 1)}:g`)
      }
      return generations
    }

    /** Changes each of these generations. */
    // A SET that Redis refuses (full, noeviction) deletes the key instead: as CHANGE_GENERATION does.
    const changeGenerations = (generations: ReadonlySet<string>) =>
      use("clear", (c, signal) =>
        Promise.all(
          Array.from(generations, (key) =>
            c.send(key, ["SET", key, newGeneration(), "PX", GENERATION_MILLIS], signal).catch((error: unknown) => {
              if (!describe(error).startsWith("OOM")) throw error
              return c.send(key, ["DEL", key], signal)
            })
          )
        )
      )

    /** Writes an entry; with a `generation`, only while the namespace's is still that one (whether it wrote). */
    const write = (namespace: string, key: string, bytes: Uint8Array, expiresAt: number, generation: string | undefined) =>
      Effect.gen(function* () {
        const at = yield* now
        const k = keysOf(namespace)
        const field = nameOf(key)
        // Gone already (or an expiry that is not a time): what it replaces is gone too (a conditional write of it just does nothing).
        if (!(expiresAt > at)) {
          if (generation !== undefined) return false
          yield* remove(namespace, key, "set")
          return true
        }
        // The expiry on Redis's clock, from this process's: `PX`, the time left.
        const px = Number.isFinite(expiresAt) ? String(Math.max(1, Math.ceil(expiresAt - at))) : ""
        const large = bytes.byteLength >= PLACE_BYTES
        const value = large ? packHead(namespace, key, at, expiresAt, 0) : packEntry(namespace, key, bytes, at, expiresAt)
        const args = [
          value,
          px,
          field,
          `${at} ${timeArg(expiresAt)} ${bytes.byteLength}`,
          namespace,
          timeArg(expiresAt),
          String(at),
          k.entries
        ]
        const written = yield* use("set", async (c, signal) => {
          if (large) {
            // The head, then the caller's bytes as they are (no copy into one buffer), then the move: sent at once, in order.
            const temporary = k.temporary + randomBytes(12).toString("hex")
            const payload = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
            const head = c.send(temporary, ["SET", temporary, value, "PX", PLACE_TEMPORARY_MILLIS], signal)
            const appended = c.send(temporary, ["APPEND", temporary, payload], signal)
            const keys = [temporary, k.entries + field, k.index, k.meta, k.generation]
            const length = String(value.byteLength + bytes.byteLength)
            const placed = evalScript(c, PLACE, keys, [generation ?? "", ...args.slice(1), length], signal)
            await Promise.all([head, appended])
            return placed
          }
          return generation === undefined
            ? evalScript(c, SET, [k.entries + field, k.index, k.meta], args, signal)
            : evalScript(c, SET_IF, [k.entries + field, k.index, k.meta, k.generation], [generation, ...args], signal)
        })
        return Number(written) === 1
      })

    const set = (namespace: string, key: string, bytes: Uint8Array, expiresAt: number) =>
      Effect.asVoid(write(namespace, key, bytes, expiresAt, undefined))

    /**
     * Every namespace with live entries, with their counts, bytes and times:
     * by each namespace's index (LIST, which sweeps what expired), and by the
     * entries themselves, found by one SCAN on every master. Redis may evict
     * an index or a namespace's names and keep its entries (`allkeys-*`): an
     * entry no index holds is read (the head of its value: its namespace and
     * times) and put back in its index (REINDEX), so `recall ls`, `clear NAME`
     * and `prune` see every entry that a `get` could still serve.
     */
    const list = (operation: string) =>
      Effect.gen(function* () {
        const at = yield* now
        const keys = yield* use(operation, (c, signal) => c.scan(`${globEscape(prefix)}:{*}:*`, signal))
        const entryKeys = new Map<string, Array<string>>()
        const metas: Array<string> = []
        for (const key of keys) {
          if (!key.startsWith(`${prefix}:{`)) continue
          if (key.endsWith("}:m")) metas.push(key)
          const match = ENTRY_KEY.exec(key.slice(prefix.length))
          if (match === null) continue
          const base = `${prefix}${match[1]}`
          const fields = entryKeys.get(base) ?? []
          fields.push(match[2]!)
          entryKeys.set(base, fields)
        }
        const indexed = yield* Effect.forEach(
          metas,
          (meta) => {
            const b = meta.slice(0, -2)
            return use(operation, (c, signal) => evalScript(c, LIST, [`${b}:i`, meta], [String(at), `${b}:e:`], signal)).pipe(
              Effect.map((reply) => ({ base: b, items: (reply as ReadonlyArray<Buffer | string>).map(String) }))
            )
          },
          { concurrency: 8 }
        )
        const infos = new Map<string, { entries: number; bytes: number; oldestWrite: number; newestWrite: number; nextExpiry: number }>()
        const count = (namespace: string, writtenAt: number, expiresAt: number, bytes: number) => {
          if (expiresAt <= at) return
          const info = infos.get(namespace) ?? { entries: 0, bytes: 0, oldestWrite: Infinity, newestWrite: -Infinity, nextExpiry: Infinity }
          info.entries++
          info.bytes += bytes
          info.oldestWrite = Math.min(info.oldestWrite, writtenAt)
          info.newestWrite = Math.max(info.newestWrite, writtenAt)
          info.nextExpiry = Math.min(info.nextExpiry, expiresAt)
          infos.set(namespace, info)
        }
        const counted = new Set<string>()
        for (const { base: b, items } of indexed) {
          if (items.length < 1) continue
          const namespace = items[0]!
          for (let i = 1; i + 1 < items.length; i += 2) {
            counted.add(`${b}:e:${items[i]}`)
            const [writtenAt, expiresAt, bytes] = items[i + 1]!.split(" ").map(parseTime) as [number, number, number]
            count(namespace, writtenAt, expiresAt, bytes)
          }
        }
        const lost = Array.from(entryKeys, ([b, fields]) => fields.map((field) => ({ b, field, key: `${b}:e:${field}` })))
          .flat()
          .filter(({ key }) => !counted.has(key))
        yield* Effect.forEach(
          lost,
          ({ b, field, key }) =>
            use(operation, async (c, signal) => {
              const [head, length] = await Promise.all([
                c.send(key, ["GETRANGE", key, "0", String(HEAD_READ_BYTES - 1)], signal),
                c.send(key, ["STRLEN", key], signal)
              ])
              const found = Buffer.isBuffer(head) ? headOfEntry(head, Number(length)) : undefined
              // Not an entry (another program's key), or one that expired but Redis has not dropped yet.
              if (found === undefined || !(found.expiresAt > at)) return
              const meta = `${found.writtenAt} ${timeArg(found.expiresAt)} ${found.bytes}`
              const back = await evalScript(
                c,
                REINDEX,
                [key, `${b}:i`, `${b}:m`],
                [field, meta, found.namespace, timeArg(found.expiresAt)],
                signal
              )
              if (Number(back) === 1) count(found.namespace, found.writtenAt, found.expiresAt, found.bytes)
            }),
          { concurrency: 8, discard: true }
        )
        return Array.from(infos, ([namespace, info]): CacheStore.NamespaceInfo => ({ namespace, ...info }))
      })

    // --- Locks ---------------------------------------------------------------

    const lockKey = (namespace: string, key: string) => keysOf(namespace).locks + nameOf(key)
    const channelOf = (namespace: string, key: string) => keysOf(namespace).released + nameOf(key)
    const newToken = () => randomBytes(16).toString("hex")
    const pxOf = (millis: number) => (Number.isFinite(millis) ? String(Math.max(1, Math.ceil(millis))) : "")

    const acquire = (namespace: string, key: string, ttl: Duration.Input) =>
      Effect.gen(function* () {
        const at = yield* now
        const millis = millisOf(ttl)
        const token = newToken()
        const lock = lockKey(namespace, key)
        const taken = yield* use("acquire a lock", (c, signal) =>
          evalScript(c, ACQUIRE, [lock], [token, timeArg(at + millis), pxOf(millis), String(at)], signal)
        )
        return Number(taken) === 1 ? Option.some<CacheStore.Lock>({ namespace, key, token }) : Option.none<CacheStore.Lock>()
      })

    const renew = (lock: CacheStore.Lock, ttl: Duration.Input) =>
      Effect.gen(function* () {
        const at = yield* now
        const millis = millisOf(ttl)
        const renewed = yield* use("renew a lock", (c, signal) =>
          evalScript(c, RENEW, [lockKey(lock.namespace, lock.key)], [lock.token, timeArg(at + millis), pxOf(millis), String(at)], signal)
        )
        return Number(renewed) === 1
      })

    const release = (lock: CacheStore.Lock, options?: { readonly failed?: boolean | undefined }) =>
      use("release a lock", (c, signal) =>
        evalScript(
          c,
          RELEASE,
          [lockKey(lock.namespace, lock.key)],
          [lock.token, channelOf(lock.namespace, lock.key), options?.failed === true ? "1" : ""],
          signal
        )
      ).pipe(Effect.asVoid)

    /** The lock's expiry (on its holder's Clock), `"failed"` when its holder gave it back after a failure; `undefined` when free. */
    const lockState = (namespace: string, key: string) =>
      use("wait for a lock", (c, signal) => c.send(lockKey(namespace, key), ["GET", lockKey(namespace, key)], signal)).pipe(
        Effect.map((value): number | "failed" | undefined => {
          if (value === null || value === undefined) return undefined
          const text = String(value)
          if (text.startsWith(FAILED_MARK)) return "failed"
          const sep = text.indexOf("|")
          return sep < 0 ? -Infinity : parseTime(text.slice(sep + 1))
        })
      )

    /**
     * Wakes `wake` on each release message of (namespace, key), as long as
     * the scope; nothing (polling only) when the subscriber cannot be had
     * within a second.
     */
    const onRelease = (namespace: string, key: string, wake: (message: string) => void) =>
      Effect.acquireRelease(
        Effect.promise(async () => {
          const channel = channelOf(namespace, key)
          // Redis is down: polling only (which fails, as every operation does then).
          if (!connection.isReady()) return undefined
          try {
            const subscriber = await Promise.race([
              connection.subscriber().then(async (s) => {
                await s.subscribe(channel, wake)
                return s
              }),
              new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1_000).unref())
            ])
            return subscriber === undefined ? undefined : { subscriber, channel }
          } catch {
            return undefined
          }
        }),
        (subscribed) =>
          subscribed === undefined
            ? Effect.void
            : Effect.promise(() => subscribed.subscriber.unsubscribe(subscribed.channel, wake).catch(() => undefined))
      )

    const awaitRelease = (namespace: string, key: string, timeout: Duration.Input) =>
      Effect.gen(function* () {
        // The deadline first, before anything waits.
        const deadline = (yield* now) + millisOf(timeout)
        let signalled: (() => void) | undefined
        let woken = false
        let heardFailed = false
        const wake = (message: string) => {
          woken = true
          if (message === "failed") heardFailed = true
          signalled?.()
        }
        yield* onRelease(namespace, key, wake)
        let interval = 10
        while (true) {
          woken = false
          const expiresAt = yield* lockState(namespace, key)
          // Heard, or read from the lock's value (for a waiter that polls): its holder failed.
          if (expiresAt === "failed" || heardFailed) return "failed" as const
          const at = yield* now
          if (expiresAt === undefined || expiresAt <= at || at >= deadline) return "done" as const
          if (woken) continue
          const message = Effect.callback<void>((resume) => {
            signalled = () => resume(Effect.void)
            if (woken) resume(Effect.void)
            return Effect.sync(() => {
              signalled = undefined
            })
          })
          // A release message; the lock's expiry or the deadline, on Clock; or a poll, in real time.
          yield* Effect.raceAll([message, Effect.sleep(Duration.millis(Math.min(expiresAt, deadline) - at)), pause(interval)])
          interval = Math.min(interval * 2, 250)
        }
      }).pipe(Effect.scoped)

    return CacheStore.make({
      get,
      set,
      delete: (namespace, key) => Effect.asVoid(remove(namespace, key, "delete", true)),
      // The index first (the generation changes with it, so computations in flight write nothing from then
      // on), then a scan of the namespace's entries: an entry whose index member Redis evicted (maxmemory-policy
      // allkeys-*) is still found, and no entry outlives the clear. The notice last, once nothing is left: a
      // listener that drops its copies and reads the store again finds none of the old entries.
      clearNamespace: (namespace) => {
        const k = keysOf(namespace)
        return use("clear a namespace", async (c, signal) => {
          await evalScript(c, CLEAR_NAMESPACE, [k.index, k.meta, k.generation], [k.entries, newGeneration()], signal)
          const left = await c.scan(`${globEscape(k.entries)}*`, signal)
          await Promise.all(left.map((key) => c.send(key, ["DEL", key], signal)))
          await c.send(noticeChannel, ["PUBLISH", noticeChannel, noticeOf({ _tag: "NamespaceCleared", namespace })], signal)
        })
      },
      // Not one atomic step (a cluster cannot have one over every slot), so in three: every namespace met
      // changes its generation, so that computations in flight there write nothing from then on (each one's
      // generation key exists: reading it makes it, see CURRENT); a second scan then finds what such a
      // computation wrote between the first scan and that change; and everything either scan found is deleted.
      clearAll: Effect.gen(function* () {
        const scan = use("clear", (c, signal) => c.scan(`${globEscape(prefix)}:{*}:*`, signal))
        const first = yield* scan
        const met = generationKeysOf(first)
        yield* changeGenerations(met)
        const second = yield* scan
        // Namespaces met only now (each one's generation changed once, not twice).
        yield* changeGenerations(new Set(Array.from(generationKeysOf(second)).filter((key) => !met.has(key))))
        // Entries and indexes; locks are left to their holders.
        const ours = new Set([...first, ...second].filter((key) => key.startsWith(`${prefix}:{`) && /\}:(?:e:[0-9a-f]{32}|i|m)$/.test(key)))
        yield* use("clear", (c, signal) => Promise.all(Array.from(ours, (key) => c.send(key, ["DEL", key], signal))))
        yield* use("clear", (c, signal) => c.send(noticeChannel, ["PUBLISH", noticeChannel, noticeOf({ _tag: "Cleared" })], signal))
      }),
      list: list("list"),
      stats: Effect.map(list("read stats"), (namespaces) => ({
        namespaces: namespaces.length,
        entries: namespaces.reduce((n, info) => n + info.entries, 0),
        bytes: namespaces.reduce((n, info) => n + info.bytes, 0)
      })),
      locks: { acquire, renew, release, awaitRelease },
      notices: { subscribe: subscribeNotices },
      generations: {
        current: (namespace) =>
          use("read a generation", (c, signal) => evalScript(c, CURRENT, [keysOf(namespace).generation], [newGeneration()], signal)).pipe(
            Effect.map((value) => String(value))
          ),
        setIf: (namespace, key, bytes, expiresAt, generation) => write(namespace, key, bytes, expiresAt, generation)
      }
    })
  })
