// Loads the jco-transpiled keyhole component (target/js/component/, built by scripts/build-js)
// with its imports: keyhole:auth/* from imports.mjs, wasi:* from @bytecodealliance/preview2-shim.
//
//   const keyhole = await loadComponent(dir, { secrets: new FileSecrets(path) });
//   keyhole.machine.Machine, new keyhole.operations.RemoteClient(remote).loginDevice(undefined)

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

import * as wasi from "@bytecodealliance/preview2-shim";

import { keyholeImports } from "./imports.mjs";

const camel = (name) => name.replace(/-([a-z])/g, (_, c) => c.toUpperCase());

/** Resolves `wasi:cli/environment@0.2.6`-style import names to their implementation */
function importObject(keyhole) {
  return new Proxy(
    {},
    {
      get(_, name) {
        if (typeof name !== "string") return undefined;
        const match = /^([a-z0-9-]+):([a-z0-9-]+)\/([a-z0-9-]+)(@.*)?$/.exec(name);
        const found = match && (match[1] === "keyhole" ? keyhole[camel(match[3])] : match[1] === "wasi" ? wasi[camel(match[2])]?.[camel(match[3])] : undefined);
        if (!found) throw new Error(`keyhole: the component imports ${name}, which this host does not provide`);
        return found;
      },
    },
  );
}

/** Instantiates the component in `dir`; `options` go to keyholeImports */
export async function loadComponent(dir, options = {}) {
  const { instantiate } = await import(pathToFileURL(join(dir, "keyhole.js")).href);
  const getCoreModule = async (path) => WebAssembly.compile(await readFile(join(dir, path)));
  return instantiate(getCoreModule, importObject(keyholeImports(options)));
}
