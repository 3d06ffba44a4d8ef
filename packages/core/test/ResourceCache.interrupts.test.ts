/**
 * Interrupts at every step of a ResourceCache call, as
 * DataCache.interrupts.test.ts sweeps them for DataCache. The victim fiber
 * runs with the smallest operation budget Effect's run loop can advance with
 * (3: with 1 or 2 it yields again before every operation and livelocks), so
 * the test fiber can interrupt it after any number of scheduler turns; the
 * sweep goes on until the victim finishes before the interrupt lands.
 *
 * The bodies acquire an instance (`Effect.acquireRelease`), then succeed or
 * fail. The callers are plain calls, `use` and `borrow`; with `validate`, the
 * key is filled first so that both callers hit and validate (true: a hit;
 * false: a recompute). Each sweep runs twice: with a plain interrupt, and
 * with the key invalidated just before it, so that a release falls due while
 * the victim may hold the instance (its borrow, its `validate`) and must run
 * when the interrupt ends that hold. After each interrupt point:
 *
 * - no hung key: the other caller finishes, and a new call finishes;
 * - after the layer's scope closes, every instance acquired was released
 *   exactly once;
 * - no instance was released twice, nor while a borrow or a `validate` of it
 *   was running, and no borrower was handed a released instance.
 *
 * The last tests interrupt callers whose computation waits (on a gate that
 * the test opens at the end): the interrupt must complete while the body
 * still waits, and release what the body acquired, whichever way the caller
 * came to run the body.
 */
import { assert, describe, it } from "@effect/vitest"
import { ResourceCache } from "@recall/core"
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Scheduler, Scope } from "effect"

/** Yields the test fiber up to `turns` times, until `fiber` is done. */
const settles = <A, E>(fiber: Fiber.Fiber<A, E>, turns = 2000) =>
  Effect.gen(function* () {
    for (let i = 0; i < turns && fiber.pollUnsafe() === undefined; i++) yield* Effect.yieldNow
    return fiber.pollUnsafe()
  })

const oneOpAtATime = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.forkChild(Effect.provideService(effect, Scheduler.MaxOpsBeforeYield, 3))

interface Instance {
  readonly id: number
  releases: number
  /** Borrows (`use`, `borrow`) and `validate` checks running on it, as the test sees them. */
  borrows: number
}

/** Instances that record their acquisition, their releases and who holds them; `problems` collects every violation. */
const resources = () => {
  const instances: Array<Instance> = []
  const problems: Array<string> = []
  const acquire = Effect.acquireRelease(
    Effect.sync(() => {
      const instance: Instance = { id: instances.length + 1, releases: 0, borrows: 0 }
      instances.push(instance)
      return instance
    }),
    (instance) =>
      Effect.sync(() => {
        instance.releases++
        if (instance.releases > 1) problems.push(`#${instance.id} released ${instance.releases} times`)
        if (instance.borrows > 0) problems.push(`#${instance.id} released while held ${instance.borrows} time(s)`)
      })
  )
  /** Runs `effect` while holding `instance`, as a borrower or a `validate` sees it. */
  const holding = <A, E, R>(what: string, instance: Instance, effect: Effect.Effect<A, E, R>) =>
    Effect.acquireUseRelease(
      Effect.sync(() => {
        if (!instances.includes(instance)) problems.push(`${what} got an instance that was never acquired`)
        else if (instance.releases > 0) problems.push(`${what} got #${instance.id}, already released`)
        instance.borrows++
      }),
      () => effect,
      () => Effect.sync(() => instance.borrows--)
    )
  return { instances, problems, acquire, holding }
}

type Outcome = "succeeds" | "fails"
type Caller = "plain call" | "use" | "borrow"
/** `none`: no validate, a miss. `true` / `false`: the key is filled first, and validate answers that on the hits. */
type Validate = "none" | "true" | "false"

const outcomes: ReadonlyArray<Outcome> = ["succeeds", "fails"]
const callers: ReadonlyArray<Caller> = ["plain call", "use", "borrow"]
const validates: ReadonlyArray<Validate> = ["none", "true", "false"]

interface Args {
  readonly key: string
  /** Left out of the key: whether this caller's body fails after acquiring. */
  readonly _fails: boolean
}

/**
 * One interrupt point: a fresh layer and function, two callers of one key,
 * the victim interrupted after `step` turns of the test fiber. Returns
 * `true` when the victim had already finished (the sweep is over).
 */
const interruptAt = (step: number, outcome: Outcome, caller: Caller, validate: Validate, target: "first" | "second", invalidate: boolean) =>
  Effect.gen(function* () {
    const r = resources()
    const where = `step ${step}`
    const f = ResourceCache.fn(
      {
        name: `sweep-${outcome}-${caller}-${validate}`,
        ...(validate === "none"
          ? {}
          : { validate: (instance: Instance) => r.holding("validate", instance, Effect.as(Effect.yieldNow, validate === "true")) })
      },
      ({ _fails }: Args) =>
        Effect.flatMap(r.acquire, (instance) =>
          Effect.yieldNow.pipe(
            Effect.andThen(Effect.yieldNow),
            Effect.andThen(_fails ? Effect.fail("boom" as const) : Effect.succeed(instance))
          )
        )
    )
    const args: Args = { key: "k", _fails: outcome === "fails" }
    const call = (): Effect.Effect<Instance, unknown, ResourceCache.ResourceCache> => {
      switch (caller) {
        case "plain call":
          return f(args)
        case "use":
          return f.use(args, (instance) => r.holding("use", instance, Effect.as(Effect.yieldNow, instance)))
        case "borrow":
          return Effect.scoped(
            Effect.flatMap(f.borrow(args), (instance) => r.holding("borrow", instance, Effect.as(Effect.yieldNow, instance)))
          )
      }
    }

    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(ResourceCache.layerMemory(), scope)
    const inCache = <A, E>(effect: Effect.Effect<A, E, ResourceCache.ResourceCache>) => Effect.provideContext(effect, context)

    // With validate, the key holds an instance, so that both callers hit and validate it.
    if (validate !== "none") yield* inCache(f({ key: "k", _fails: false }))

    const first = yield* oneOpAtATime(inCache(call()))
    const second = yield* oneOpAtATime(inCache(call()))
    const [victim, survivor] = target === "first" ? [first, second] : [second, first]
    for (let i = 0; i < step; i++) yield* Effect.yieldNow
    const released = Effect.gen(function* () {
      assert.deepStrictEqual(r.problems, [], `${where}: before the layer closed`)
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(r.problems, [], `${where}: after the layer closed`)
      for (const instance of r.instances) {
        assert.strictEqual(instance.releases, 1, `${where}: instance #${instance.id} of ${r.instances.length} released exactly once`)
      }
    })
    if (victim.pollUnsafe() !== undefined) {
      // The sweep is over: the call ran to its end before this step.
      assert.isDefined(yield* settles(survivor), `${where}: the other caller finished`)
      yield* released
      return true
    }
    if (invalidate) yield* inCache(f.invalidate({ key: "k" }))
    yield* Fiber.interrupt(victim)

    /** A caller's exit: the instance (one that was acquired), or the body's failure; never a defect or an interrupt. */
    const expectResult = (exit: Exit.Exit<Instance, unknown> | undefined, who: string) => {
      assert.isDefined(exit, `${where}: ${who} finished`)
      if (exit === undefined) return
      if (Exit.isSuccess(exit)) {
        assert.include(r.instances, exit.value, `${where}: ${who} got an instance that was acquired`)
      } else {
        assert.deepStrictEqual(
          Cause.squash(exit.cause),
          "boom",
          `${where}: ${who} failed with the body's error only: ${Cause.pretty(exit.cause)}`
        )
      }
      // A hit (validate true) returns the stored instance whatever the body would do.
      if (outcome === "succeeds" || validate === "true") assert.isTrue(Exit.isSuccess(exit), `${where}: ${who} succeeded`)
    }
    expectResult(yield* settles(survivor), "the other caller of the key")
    const after = yield* Effect.forkChild(inCache(call()))
    expectResult(yield* settles(after), "a new call after the interrupt")
    yield* released
    return false
  })

describe("ResourceCache interrupts", () => {
  for (const invalidate of [false, true]) {
    for (const validate of validates) {
      for (const caller of callers) {
        // Callers that hit (validate true) never run the body: one outcome is enough.
        for (const outcome of validate === "true" ? (["succeeds"] as const) : outcomes) {
          for (const target of ["first", "second"] as const) {
            const hit = validate === "none" ? "" : ` that hits with validate ${validate}`
            const invalidated = invalidate ? ", the key invalidated just before," : ""
            it.effect(
              `an interrupt${invalidated} of the ${target} caller at any step of a ${caller}${hit} whose body ${outcome} leaks nothing`,
              () =>
                Effect.gen(function* () {
                  let interrupted = 0
                  for (let step = 0; step < 2000; step++) {
                    if (yield* interruptAt(step, outcome, caller, validate, target, invalidate)) break
                    interrupted++
                  }
                  assert.isAbove(interrupted, 10, "the sweep interrupted the call at many steps")
                  assert.isBelow(interrupted, 2000, "the victim finished before the sweep ran out of steps")
                })
            )
          }
        }
      }
    }
  }
})

/**
 * Callers whose bodies acquire, signal `acquired[n]`, then wait on
 * `gates[n]`; `finish` opens every gate, so that a test that fails still
 * ends (its forked callers finish).
 */
const gatedCallers = Effect.gen(function* () {
  const r = resources()
  const acquired = [yield* Deferred.make<void>(), yield* Deferred.make<void>(), yield* Deferred.make<void>()]
  const gates = [yield* Deferred.make<void>(), yield* Deferred.make<void>(), yield* Deferred.make<void>()]
  /** Caller `n` of key "k"; `n` is left out of the key. */
  const body = ({ _n }: { readonly key: string; readonly _n: number }) =>
    Effect.flatMap(r.acquire, (instance) =>
      Deferred.succeed(acquired[_n]!, undefined).pipe(Effect.andThen(Deferred.await(gates[_n]!)), Effect.as(instance))
    )
  const finish = Effect.forEach(gates, (gate) => Deferred.succeed(gate, undefined), { discard: true })
  return { r, acquired, gates, body, finish }
})

/** Interrupts `fiber` and gives the interrupt a bounded number of scheduler turns to complete. */
const interruptCompletes = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.gen(function* () {
    const interrupter = yield* Effect.forkChild(Fiber.interrupt(fiber))
    return (yield* settles(interrupter, 200)) !== undefined
  })

describe("ResourceCache: an interrupt of a caller whose computation waits", () => {
  // The computation belongs to the cache: a caller's interrupt ends its own
  // wait at once, and the computation goes on, is stored, and is released
  // when it leaves the cache (here, when the layer closes).
  it.effect("completes at once; the computation goes on, is stored, and is released once, when the layer closes", () =>
    Effect.gen(function* () {
      const { r, acquired, gates, body, finish } = yield* gatedCallers
      const f = ResourceCache.fn("gated", body)
      yield* Effect.gen(function* () {
        const runner = yield* Effect.forkChild(f({ key: "k", _n: 0 }))
        yield* Deferred.await(acquired[0]!)
        assert.isTrue(yield* interruptCompletes(runner), "the interrupt completed while the body waited")
        assert.deepStrictEqual(
          r.instances.map((instance) => instance.releases),
          [0],
          "nothing is released under the computation"
        )
        yield* Deferred.succeed(gates[0]!, undefined)
        const instance = yield* f({ key: "k", _n: 1 })
        assert.strictEqual(instance, r.instances[0], "the next caller gets the instance the interrupted caller started")
      }).pipe(Effect.ensuring(finish), Effect.provide(ResourceCache.layerMemory()))
      assert.deepStrictEqual(
        r.instances.map((instance) => instance.releases),
        [1]
      )
    })
  )

  it.effect("completes at once for callers waiting on another caller's computation, which goes on", () =>
    Effect.gen(function* () {
      const { r, acquired, gates, body, finish } = yield* gatedCallers
      const f = ResourceCache.fn("gated", body)
      yield* Effect.gen(function* () {
        const runner = yield* Effect.forkChild(f({ key: "k", _n: 0 }))
        yield* Deferred.await(acquired[0]!)
        const second = yield* Effect.forkChild(f({ key: "k", _n: 1 }))
        const third = yield* Effect.forkChild(f({ key: "k", _n: 2 }))
        for (let i = 0; i < 5; i++) yield* Effect.yieldNow
        assert.isTrue(yield* interruptCompletes(second), "the interrupt of a waiting caller completed")
        assert.isTrue(yield* interruptCompletes(runner), "the interrupt of the caller that started it completed")
        yield* Deferred.succeed(gates[0]!, undefined)
        assert.strictEqual(yield* Fiber.join(third), r.instances[0], "the caller still waiting gets the one instance")
        assert.strictEqual(r.instances.length, 1, "nobody took over: the computation never stopped")
      }).pipe(Effect.ensuring(finish), Effect.provide(ResourceCache.layerMemory()))
      assert.deepStrictEqual(
        r.instances.map((instance) => instance.releases),
        [1]
      )
    })
  )

  it.effect("completes at once when the caller recomputes after validate answered false", () =>
    Effect.gen(function* () {
      const { r, acquired, gates, body, finish } = yield* gatedCallers
      let healthy = true
      const f = ResourceCache.fn({ name: "gated", validate: () => Effect.sync(() => healthy) }, body)
      yield* Effect.gen(function* () {
        yield* Deferred.succeed(gates[0]!, undefined)
        yield* f({ key: "k", _n: 0 })
        healthy = false
        // The hit validates instance 1, finds it unhealthy and recomputes: instance 2 waits on gate 1.
        const caller = yield* Effect.forkChild(f({ key: "k", _n: 1 }))
        yield* Deferred.await(acquired[1]!)
        assert.isTrue(yield* interruptCompletes(caller), "the interrupt of the recomputing caller completed while its body waited")
        assert.deepStrictEqual(
          r.instances.map((instance) => instance.releases),
          [1, 0],
          "the unhealthy instance is released; the new one's computation goes on"
        )
      }).pipe(Effect.ensuring(finish), Effect.provide(ResourceCache.layerMemory()))
      assert.deepStrictEqual(
        r.instances.map((instance) => instance.releases),
        [1, 1]
      )
    })
  )
})
