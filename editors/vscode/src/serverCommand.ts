import * as fs from 'fs';
import * as path from 'path';
import type * as vscode from 'vscode';

export interface Executable {
  command: string;
  args: string[];
}

/** Picks how to start the server: `serverCommand`, else `pythonPath -m lsp_server`, else `seed-coder-lsp` on PATH. */
export function resolveServerCommand(config: vscode.WorkspaceConfiguration): Executable {
  const explicit = (config.get<string[]>('serverCommand') ?? []).filter((part) => part !== '');
  if (explicit.length > 0) {
    return { command: explicit[0], args: explicit.slice(1) };
  }
  const python = config.get<string>('pythonPath')?.trim();
  if (python) {
    return { command: python, args: ['-m', 'lsp_server'] };
  }
  const onPath = findOnPath('seed-coder-lsp');
  if (onPath) {
    return { command: onPath, args: [] };
  }
  throw new Error(
    '`seed-coder-lsp` was not found on PATH. Install it from your clone with ' +
      '`pipx install /path/to/seed-coder-lsp` (or `uv tool install /path/to/seed-coder-lsp`), ' +
      'or set `seedCoder.serverCommand` to `["/path/to/seed-coder-lsp/.venv/bin/seed-coder-lsp"]`.',
  );
}

function findOnPath(name: string): string | undefined {
  const exts = process.platform === 'win32' ? (process.env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';') : [''];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    for (const ext of exts) {
      const candidate = path.join(dir, name + ext);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        if (fs.statSync(candidate).isFile()) {
          return candidate;
        }
      } catch {
        // not here
      }
    }
  }
  return undefined;
}
