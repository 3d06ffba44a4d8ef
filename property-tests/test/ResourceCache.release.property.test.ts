/**
 * The release contract of `ResourceCache.fn`, as a property over random
 * sequences of commands, on Effect's `TestClock`.
 *
 * fast-check draws the options of one cached resource function (`ttl`,
 * `staleWhileRevalidate`, `maxEntries`, `validate`, the layer's sweep
 * interval) and a sequence of commands over three keys:
 *
 * - calls: a plain call, `use` (a short body, or one held until a later
 *   command ends it) or `borrow` (into a Scope the test closes, at once or
 *   later); the body acquires an instance, then returns it, fails, or waits
 *   on a gate (a `Deferred`) that a later command opens. Every call runs in
 *   a fiber of its own, so calls pile up on gates and holds;
 * - several callers of one key at once;
 * - opening a gate, then perhaps interrupting its caller a few scheduler
 *   turns later; ending a hold; interrupting a waiting caller; a call that is
 *   interrupted after a random number of turns (its fiber runs 3 operations
 *   per turn, as in the interrupt sweeps);
 * - `invalidate`, `fn.clear`, `ResourceCache.clear`, `TestClock.adjust`, and
 *   setting what `validate` answers for a key (true, false, a failure, or
 *   true after a few turns).
 *
 * The run ends by closing the layer's scope (built with
 * `Layer.buildWithScope` into a `Scope.make()`), before or after every gate
 * is opened and every hold ended (a third generated value).
 *
 * Checked after every command and at the end:
 *
 * - no instance is released twice;
 * - no instance is released while a `use`, a `borrow` or a `validate` of it
 *   runs, and no borrower (nor `validate`) is handed a released instance;
 * - every instance a caller gets was acquired by a body;
 * - callers of one key that start together, with no gate or hold in the way,
 *   get one instance (checked when nothing can legitimately part them: a
 *   healthy `validate` and no `staleWhileRevalidate`);
 * - once an instance has left the cache (`invalidate`, a clear, the layer's
 *   scope closing, or any of these during its computation), it is released
 *   as soon as its body returned and nobody holds it;
 * - at the end (every gate open, every hold ended, the layer closed) every
 *   caller has finished, and every instance acquired was released exactly
 *   once.
 *
 * Runs use a fixed seed (42; `FC_SEED=n` to explore another). A failure
 * prints fast-check's seed, path and the shrunk configuration and commands,
 * with the assertion that failed.
 */
import { assert, describe, it } from "@effect/vitest"
import { ResourceCache } from "@recall/core"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scheduler from "effect/Scheduler"
import * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import fc from "fast-check"

const seed = Number(process.env.FC_SEED ?? 42)

const keys = ["a", "b", "c"] as const
type Key = (typeof keys)[number]
type Kind = "plain" | "use" | "borrow"
/** What a caller's body does after acquiring: return the instance, fail, or wait on the caller's gate first. */
type Body = "returns" | "fails" | "gated" | "gatedFails"
/** What `validate` answers for a key: "slow" is true after a few scheduler turns. */
type Verdict = "true" | "false" | "fails" | "slow"

interface Config {
  readonly ttl: number | undefined
  readonly staleWhileRevalidate: number | undefined
  readonly maxEntries: number | undefined
  readonly validate: boolean
  readonly sweepMillis: number
}

type Command =
  | {
      readonly _tag: "Call"
      readonly key: Key
      readonly kind: Kind
      readonly body: Body
      /** `use` / `borrow`: held until an `EndHold`. */
      readonly held: boolean
      /** Runs 3 operations per scheduler turn, so that later interrupts land at finer points. */
      readonly fine: boolean
    }
  | { readonly _tag: "Together"; readonly key: Key; readonly kinds: ReadonlyArray<Kind> }
  | { readonly _tag: "OpenGate"; readonly index: number; readonly interruptAfter: number | undefined }
  | { readonly _tag: "EndHold"; readonly index: number }
  | { readonly _tag: "Interrupt"; readonly index: number }
  | { readonly _tag: "InterruptedCall"; readonly key: Key; readonly kind: Kind; readonly body: Body; readonly turns: number }
  | { readonly _tag: "Invalidate"; readonly key: Key }
  | { readonly _tag: "FnClear" }
  | { readonly _tag: "CacheClear" }
  | { readonly _tag: "Advance"; readonly millis: number }
  | { readonly _tag: "SetValidate"; readonly key: Key; readonly verdict: Verdict }

// ---------------------------------------------------------------------------
// Instances and callers, as the test sees them
// ---------------------------------------------------------------------------

interface Instance {
  readonly id: number
  readonly key: Key
  releases: number
  /** `use` bodies, `borrow` scopes and `validate` checks holding it, as the test sees them (a subset of the cache's holds). */
  holds: number
  /** The body returned it (it did not fail, nor wait on a gate still closed). */
  returned: boolean
  /**
   * Its entry was invalidated or cleared (or the layer closed), or it was
   * being computed when that happened: it must be released as soon as its
   * body returned and nobody holds it.
   */
  left: boolean
}

class Boom {
  readonly _tag = "Boom"
}

/** A call's body plan, looked up by the `_caller` argument (left out of the key). */
interface Plan {
  readonly fails: boolean
  readonly gate: Deferred.Deferred<void> | undefined
  opened: boolean
}

interface Caller {
  readonly id: number
  readonly key: Key
  readonly kind: Kind
  readonly label: string
  /** `use` held: the use body waits on it. */
  readonly hold: Deferred.Deferred<void> | undefined
  holdEnded: boolean
  /** `borrow`: the scope the borrow is taken into; closed by the caller, or by `EndHold` when held. */
  readonly scope: Scope.Closeable | undefined
  /** `borrow`: the instance the test counts as held in `scope`. */
  borrowed: Instance | undefined
  readonly held: boolean
  fiber: Fiber.Fiber<Instance, unknown> | undefined
}

/** Everything one run acquires, holds, releases and calls. */
class World {
  readonly instances: Array<Instance> = []
  readonly problems: Array<string> = []
  readonly plans = new Map<number, Plan>()
  readonly callers: Array<Caller> = []
  readonly verdicts = new Map<Key, Verdict>()
  private nextId = 0

  newId(): number {
    return ++this.nextId
  }

  readonly acquire = (key: Key) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const instance: Instance = { id: this.instances.length + 1, key, releases: 0, holds: 0, returned: false, left: false }
        this.instances.push(instance)
        return instance
      }),
      (instance) =>
        Effect.sync(() => {
          instance.releases++
          if (instance.releases > 1) this.problems.push(`instance #${instance.id} (${instance.key}) released ${instance.releases} times`)
          if (instance.holds > 0)
            this.problems.push(`instance #${instance.id} (${instance.key}) released while held ${instance.holds} time(s)`)
        })
    )

  /** Checks what a caller got: an instance some body acquired, and, for a holder, one not released yet. */
  got(who: string, instance: Instance, holder: boolean): void {
    if (!this.instances.includes(instance)) this.problems.push(`${who} got an instance no body acquired`)
    else if (holder && instance.releases > 0) this.problems.push(`${who} got #${instance.id}, already released`)
  }

  hold(who: string, instance: Instance): void {
    this.got(who, instance, true)
    instance.holds++
  }

  unhold(instance: Instance): void {
    instance.holds--
  }

  /** Runs `effect` while holding `instance`. */
  holding<A, E, R>(who: string, instance: Instance, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.acquireUseRelease(
      Effect.sync(() => this.hold(who, instance)),
      () => effect,
      () => Effect.sync(() => this.unhold(instance))
    )
  }

  /** Ends a borrow the test counts: the instance is no longer held by it. */
  unborrow(caller: Caller): void {
    if (caller.borrowed === undefined) return
    this.unhold(caller.borrowed)
    caller.borrowed = undefined
  }

  /** `invalidate(key)` or a clear (every key): every instance of the key alive now has left the cache. */
  leave(key: Key | undefined): void {
    for (const instance of this.instances) if (key === undefined || instance.key === key) instance.left = true
  }

  running(): Array<Caller> {
    return this.callers.filter((caller) => caller.fiber !== undefined && caller.fiber.pollUnsafe() === undefined)
  }
}

const verdictOf = (world: World, instance: Instance): Effect.Effect<boolean, string> => {
  switch (world.verdicts.get(instance.key) ?? "true") {
    case "true":
      return Effect.succeed(true)
    case "false":
      return Effect.succeed(false)
    case "fails":
      return Effect.fail("ping failed")
    case "slow":
      return Effect.yieldNow.pipe(Effect.andThen(Effect.yieldNow), Effect.andThen(Effect.yieldNow), Effect.as(true))
  }
}

/** The cached resource function under test. */
const resourceFunction = (world: World, config: Config) =>
  ResourceCache.fn(
    {
      name: "resource",
      ...(config.ttl === undefined ? {} : { ttl: config.ttl }),
      ...(config.staleWhileRevalidate === undefined ? {} : { staleWhileRevalidate: config.staleWhileRevalidate }),
      ...(config.maxEntries === undefined ? {} : { maxEntries: config.maxEntries }),
      ...(config.validate ? { validate: (instance: Instance) => world.holding("validate", instance, verdictOf(world, instance)) } : {})
    },
    ({ key, _caller }: { readonly key: Key; readonly _caller: number }) =>
      Effect.flatMap(world.acquire(key), (instance) =>
        Effect.gen(function* () {
          const plan = world.plans.get(_caller)!
          if (plan.gate === undefined) yield* Effect.yieldNow
          else yield* Deferred.await(plan.gate)
          if (plan.fails) return yield* Effect.fail(new Boom())
          instance.returned = true
          return instance
        })
      )
  )

// ---------------------------------------------------------------------------
// A run
// ---------------------------------------------------------------------------

/**
 * Effect's scheduler, counting the tasks queued and not yet run. A fiber that
 * can run has a task queued (a yield, a start); one that waits on a Deferred
 * or the TestClock has none. So when the test fiber resumes and nothing is
 * queued, every other fiber waits or is done.
 */
class CountingScheduler implements Scheduler.Scheduler {
  readonly executionMode = "async" as const
  readonly inner = new Scheduler.MixedScheduler()
  queued = 0
  shouldYield(fiber: Fiber.Fiber<unknown, unknown>): boolean {
    return this.inner.shouldYield(fiber)
  }
  makeDispatcher(): Scheduler.SchedulerDispatcher {
    const dispatcher = this.inner.makeDispatcher()
    return {
      scheduleTask: (task, priority) => {
        this.queued++
        dispatcher.scheduleTask(() => {
          this.queued--
          task()
        }, priority)
      },
      flush: () => dispatcher.flush()
    }
  }
}

const describeCommand = (command: Command): string => {
  const { _tag, ...fields } = command
  return `${_tag}${JSON.stringify(fields)}`
}

const runCommands = (config: Config, commands: ReadonlyArray<Command>, closeFirst: boolean) => {
  const scheduler = new CountingScheduler()
  return Effect.gen(function* () {
    const world = new World()
    const f = resourceFunction(world, config)
    const layerScope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(ResourceCache.layerMemory({ sweepInterval: config.sweepMillis }), layerScope)
    const inCache = <A, E>(effect: Effect.Effect<A, E, ResourceCache.ResourceCache>) => Effect.provideContext(effect, context)
    let layerClosed = false
    let where = "at the start"

    /** Yields until no fiber but this one can run: every other waits on a gate, a hold or the clock, or is done. */
    const settle = Effect.gen(function* () {
      yield* Effect.yieldNow
      for (let turn = 0; turn < 10_000 && scheduler.queued > 0; turn++) yield* Effect.yieldNow
      assert.strictEqual(scheduler.queued, 0, `${where}: the fibers settled`)
    })

    /** Starts a caller in a fiber of its own. */
    const start = (key: Key, kind: Kind, body: Body, held: boolean, fine: boolean) =>
      Effect.gen(function* () {
        const id = world.newId()
        const gated = body === "gated" || body === "gatedFails"
        world.plans.set(id, {
          fails: body === "fails" || body === "gatedFails",
          gate: gated ? yield* Deferred.make<void>() : undefined,
          opened: false
        })
        const caller: Caller = {
          id,
          key,
          kind,
          label: `caller ${id} (${kind} of ${key}, body ${body}${held ? ", held" : ""})`,
          hold: kind === "use" && held ? yield* Deferred.make<void>() : undefined,
          holdEnded: false,
          scope: kind === "borrow" ? yield* Scope.make() : undefined,
          borrowed: undefined,
          held: held && kind !== "plain",
          fiber: undefined
        }
        const args = { key, _caller: id }
        let call: Effect.Effect<Instance, unknown, ResourceCache.ResourceCache>
        switch (kind) {
          case "plain":
            call = Effect.tap(f(args), (instance) => Effect.sync(() => world.got(caller.label, instance, false)))
            break
          case "use":
            call = f.use(args, (instance) =>
              world.holding(
                caller.label,
                instance,
                Effect.as(caller.hold === undefined ? Effect.yieldNow : Deferred.await(caller.hold), instance)
              )
            )
            break
          case "borrow": {
            const scope = caller.scope!
            const close = Effect.suspend(() => {
              world.unborrow(caller)
              return Scope.close(scope, Exit.void)
            })
            call = Scope.provide(f.borrow(args), scope).pipe(
              Effect.tap((instance) =>
                Effect.sync(() => {
                  world.hold(caller.label, instance)
                  caller.borrowed = instance
                })
              ),
              // A short borrow ends here; a held one when `EndHold` closes its scope.
              Effect.tap(() => (caller.held ? Effect.void : Effect.andThen(Effect.yieldNow, close))),
              // A borrow that failed or was interrupted: its scope closes, as `Effect.scoped` would close it.
              Effect.onError(() => close)
            )
            break
          }
        }
        const observed = inCache(call)
        // Detached: a caller stuck for good must not keep a failed run from ending (a child would be awaited).
        caller.fiber = yield* Effect.forkDetach(fine ? Effect.provideService(observed, Scheduler.MaxOpsBeforeYield, 3) : observed)
        world.callers.push(caller)
        return caller
      })

    /** Interrupts a caller; the interrupt must complete. */
    const interrupt = (caller: Caller) =>
      Effect.gen(function* () {
        const interrupter = yield* Effect.forkDetach(Fiber.interrupt(caller.fiber!))
        yield* settle
        assert.isDefined(interrupter.pollUnsafe(), `${where}: interrupting ${caller.label} completed`)
      })

    const openGate = (plan: Plan) => {
      plan.opened = true
      return Deferred.succeed(plan.gate!, undefined)
    }

    /** Callers whose gate is still closed, in start order. */
    const gated = () =>
      world.callers.filter((caller) => world.plans.get(caller.id)!.gate !== undefined && !world.plans.get(caller.id)!.opened)
    /** Holds the test can end: a `use` held (its body may not have started), a `borrow` whose scope holds an instance. */
    const holds = () =>
      world.callers.filter(
        (caller) => (caller.hold !== undefined && !caller.holdEnded) || (caller.kind === "borrow" && caller.borrowed !== undefined)
      )

    const endHold = (caller: Caller) =>
      Effect.gen(function* () {
        if (caller.hold !== undefined) {
          caller.holdEnded = true
          yield* Deferred.succeed(caller.hold, undefined)
        } else {
          world.unborrow(caller)
          yield* Scope.close(caller.scope!, Exit.void)
        }
      })

    const check = () => {
      assert.deepStrictEqual(world.problems, [], where)
      for (const instance of world.instances) {
        assert.isAtMost(instance.releases, 1, `${where}: releases of instance #${instance.id}`)
        if (instance.left && instance.returned && instance.holds === 0) {
          assert.strictEqual(
            instance.releases,
            1,
            `${where}: instance #${instance.id} (${instance.key}), out of the cache and held by nobody, released`
          )
        }
      }
    }

    const execute = (command: Command) =>
      Effect.gen(function* () {
        switch (command._tag) {
          case "Call":
            yield* start(command.key, command.kind, command.body, command.held, command.fine)
            return
          case "Together": {
            const verdict = world.verdicts.get(command.key) ?? "true"
            const together: Array<Caller> = []
            for (const kind of command.kinds) together.push(yield* start(command.key, kind, "returns", false, false))
            yield* settle
            const exits = together.map((caller) => caller.fiber!.pollUnsafe())
            // Callers that met a gate or a hold of someone else wait: nothing to compare yet.
            if (exits.some((exit) => exit === undefined) || config.staleWhileRevalidate !== undefined) return
            if (!config.validate || verdict === "true" || verdict === "slow") {
              const got = exits.map((exit) => (exit !== undefined && Exit.isSuccess(exit) ? exit.value.id : String(exit)))
              assert.deepStrictEqual(
                got,
                got.map(() => got[0]),
                `${where}: callers of one key that started together got one instance`
              )
            }
            return
          }
          case "OpenGate": {
            const candidates = gated().filter((caller) => caller.fiber!.pollUnsafe() === undefined)
            if (candidates.length === 0) return
            const caller = candidates[command.index % candidates.length]!
            yield* openGate(world.plans.get(caller.id)!)
            if (command.interruptAfter !== undefined) {
              for (let turn = 0; turn < command.interruptAfter; turn++) yield* Effect.yieldNow
              yield* interrupt(caller)
            }
            return
          }
          case "EndHold": {
            const candidates = holds()
            if (candidates.length === 0) return
            yield* endHold(candidates[command.index % candidates.length]!)
            return
          }
          case "Interrupt": {
            const candidates = world.running()
            if (candidates.length === 0) return
            yield* interrupt(candidates[command.index % candidates.length]!)
            return
          }
          case "InterruptedCall": {
            const caller = yield* start(command.key, command.kind, command.body, false, true)
            for (let turn = 0; turn < command.turns; turn++) yield* Effect.yieldNow
            yield* interrupt(caller)
            return
          }
          case "Invalidate":
            world.leave(command.key)
            yield* inCache(f.invalidate({ key: command.key }))
            return
          case "FnClear":
            world.leave(undefined)
            yield* inCache(f.clear)
            return
          case "CacheClear":
            world.leave(undefined)
            yield* inCache(ResourceCache.clear)
            return
          case "Advance":
            yield* TestClock.adjust(command.millis)
            return
          case "SetValidate":
            world.verdicts.set(command.key, command.verdict)
            return
        }
      })

    /** The layer's scope closes: every instance nobody holds, and whose body returned, is released at once. */
    const closeLayer = Effect.gen(function* () {
      layerClosed = true
      // Every instance leaves: from now on `check` wants each released as soon as its body returned and nobody holds it.
      world.leave(undefined)
      yield* Scope.close(layerScope, Exit.void)
      yield* settle
      check()
    })

    for (const [i, command] of commands.entries()) {
      where = `after command ${i} ${describeCommand(command)}`
      yield* execute(command)
      yield* settle
      check()
    }

    // The end: maybe close the layer first, under the gates and holds still open.
    if (closeFirst) {
      where = "when the layer's scope closed, with gates and holds still open"
      yield* closeLayer
    }
    where = "while every gate opened and every hold ended"
    for (let round = 0; round < 10; round++) {
      const plans = Array.from(world.plans.values()).filter((plan) => plan.gate !== undefined && !plan.opened)
      const open = holds()
      if (plans.length === 0 && open.length === 0) break
      for (const plan of plans) yield* openGate(plan)
      yield* settle
      for (const caller of holds()) yield* endHold(caller)
      yield* settle
      check()
    }
    const hung = world.running().map((caller) => caller.label)
    assert.deepStrictEqual(hung, [], "callers still running once every gate is open and every hold ended")
    if (!layerClosed) {
      // No hung key: a new call of each key finishes.
      for (const key of keys) {
        where = `a last call of ${key}`
        world.verdicts.set(key, "true")
        const caller = yield* start(key, "plain", "returns", false, false)
        yield* settle
        const exit = caller.fiber!.pollUnsafe()
        assert.isDefined(exit, `${where} finished`)
        assert.isTrue(
          exit !== undefined && Exit.isSuccess(exit),
          `${where} succeeded: ${exit !== undefined && Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""}`
        )
      }
      where = "when the layer's scope closed, with nothing held"
      yield* closeLayer
    }
    where = "at the end"
    check()
    for (const instance of world.instances) {
      assert.strictEqual(instance.releases, 1, `${where}: instance #${instance.id} (${instance.key}) released exactly once`)
    }
    return world.instances.length
  }).pipe(Effect.provide(TestClock.layer()), Effect.provideService(Scheduler.Scheduler, scheduler))
}

// ---------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------

const key = fc.constantFrom(...keys)
const kind = fc.constantFrom<Kind>("plain", "use", "borrow")
const body = fc.constantFrom<Body>("returns", "returns", "returns", "fails", "gated", "gated", "gatedFails")

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ _tag: fc.constant("Call" as const), key, kind, body, held: fc.boolean(), fine: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({ _tag: fc.constant("Together" as const), key, kinds: fc.array(kind, { minLength: 2, maxLength: 4 }) })
  },
  {
    weight: 3,
    arbitrary: fc.record({
      _tag: fc.constant("OpenGate" as const),
      index: fc.nat(7),
      interruptAfter: fc.option(fc.nat(12), { nil: undefined, freq: 2 })
    })
  },
  { weight: 3, arbitrary: fc.record({ _tag: fc.constant("EndHold" as const), index: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("Interrupt" as const), index: fc.nat(7) }) },
  {
    weight: 3,
    arbitrary: fc.record({ _tag: fc.constant("InterruptedCall" as const), key, kind, body, turns: fc.nat(40) })
  },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("Invalidate" as const), key }) },
  { weight: 1, arbitrary: fc.constant<Command>({ _tag: "FnClear" }) },
  { weight: 1, arbitrary: fc.constant<Command>({ _tag: "CacheClear" }) },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("Advance" as const), millis: fc.integer({ min: 1, max: 8 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      _tag: fc.constant("SetValidate" as const),
      key,
      verdict: fc.constantFrom<Verdict>("true", "false", "fails", "slow")
    })
  }
)

/** A small ttl and maxEntries (with or without stale-while-revalidate and a fast sweep), or no limits at all. */
const config: fc.Arbitrary<Config> = fc.oneof(
  fc.record({
    ttl: fc.constant(undefined),
    staleWhileRevalidate: fc.constant(undefined),
    maxEntries: fc.constant(undefined),
    validate: fc.constantFrom(true, true, false),
    sweepMillis: fc.constant(60_000)
  }),
  fc.integer({ min: 2, max: 6 }).chain((ttl) =>
    fc.record({
      ttl: fc.constant(ttl),
      staleWhileRevalidate: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
      maxEntries: fc.option(fc.integer({ min: 1, max: 2 }), { nil: undefined }),
      validate: fc.constantFrom(true, true, false),
      sweepMillis: fc.constantFrom(3, 60_000)
    })
  )
)

describe("ResourceCache release", () => {
  it("every instance is released exactly once, never under a borrower, whatever the calls, interrupts and clears", async () => {
    let instances = 0
    await fc.assert(
      fc.asyncProperty(config, fc.array(command, { maxLength: 50, size: "max" }), fc.boolean(), async (config, commands, closeFirst) => {
        instances += await Effect.runPromise(runCommands(config, commands, closeFirst))
      }),
      { seed, numRuns: 200 }
    )
    assert.isAbove(instances, 1000, "the runs acquired many instances")
  })
})
