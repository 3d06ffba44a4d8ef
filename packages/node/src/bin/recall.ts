#!/usr/bin/env node
/**
 * The `recall` binary: {@link RecallCommand.command} on the process's
 * arguments, over Node's services.
 *
 * @since 0.1.0
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import * as Command from "effect/cli/Command"
import * as Effect from "effect/Effect"
import * as RecallCommand from "../RecallCommand.ts"

Command.run(RecallCommand.command, { version: RecallCommand.version }).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain)
