// Replay throughput of the JS hosts: every transcript through the wasm-bindgen module and through
// the component's machines under jco (each step includes the replayer's deep comparison).
//   node tests/js/bench.mjs        (after scripts/build-js); figures go to docs/performance.md

import { newMachine } from "../../js/host/wit.mjs";
import { loadComponent, loadModule, replay, transcripts } from "./support.mjs";

const all = transcripts();
const steps = all.reduce((n, t) => n + t.steps.length, 0);
const keyhole = loadModule();
const component = await loadComponent();
const hosts = {
  "wasm-bindgen module": (kind, config, nowMs, random) => new keyhole.Machine(kind, config, nowMs, random),
  "component under jco": (kind, config, nowMs, random) => newMachine(component.machine, kind, config, nowMs, random),
};
for (const [name, build] of Object.entries(hosts)) {
  for (let i = 0; i < 5; i += 1) for (const t of all) replay(t, build);
  const rounds = 50;
  const started = performance.now();
  for (let i = 0; i < rounds; i += 1) for (const t of all) replay(t, build);
  const ms = (performance.now() - started) / rounds;
  console.log(`${name}: ${all.length} transcripts (${steps} steps) in ${ms.toFixed(2)} ms, ${((ms * 1000) / steps).toFixed(1)} µs per step`);
}
