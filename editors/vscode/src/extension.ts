// VS Code client for the caic language server.
//
// Highlighting comes from the TextMate grammar alone; this file adds the
// language server (`caic lsp`, spoken over stdio), which supplies diagnostics
// and the other language features. The server command is configurable, the
// client restarts when that configuration changes, and a missing `caic`
// produces an actionable message instead of a stack trace. Without a
// `caic.serverPath` setting the project's own virtual environment is used
// when it has caic (`.venv/bin/caic`, `venv/bin/caic`, or the active
// $VIRTUAL_ENV), before `caic` on PATH.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import {
  CloseAction,
  ErrorAction,
  ErrorHandler,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
} from 'vscode-languageclient/node';

const CLIENT_ID = 'caic';
const CLIENT_NAME = 'caic language server';
// A server that keeps crashing is restarted at most this often.
const MAX_RESTARTS = 4;
const RESTART_WINDOW_MS = 3 * 60 * 1000;
const INSTALL_HINT = "Install caic with its language-server extra (pip install 'caic[lsp]') " +
  "or set caic.serverPath to the full path of the caic executable.";

let client: LanguageClient | undefined;
let outputChannel: vscode.OutputChannel;
// Configuration changes can arrive in bursts; restarts are serialised so that
// two servers never run side by side.
let pending: Promise<void> = Promise.resolve();

interface ServerCommand {
  command: string;
  args: string[];
  // Whether the user set caic.serverPath; if not, a project virtual environment is looked in first.
  explicit: boolean;
}

// Where a project's virtual environment keeps its console scripts, relative to the workspace folder.
const VENV_DIRS = ['.venv', 'venv', 'env'];

export function activate(context: vscode.ExtensionContext): Promise<void> {
  outputChannel = vscode.window.createOutputChannel(CLIENT_NAME);
  context.subscriptions.push(outputChannel);

  context.subscriptions.push(
    vscode.commands.registerCommand('caic.restartServer', () => schedule(restart)),
    vscode.commands.registerCommand('caic.showOutput', () => outputChannel.show(true)),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (
        event.affectsConfiguration('caic.serverPath') ||
        event.affectsConfiguration('caic.serverArgs')
      ) {
        outputChannel.appendLine('caic settings changed: restarting the language server.');
        void schedule(restart);
      }
    }),
  );

  return schedule(start);
}

export function deactivate(): Promise<void> {
  return schedule(stop);
}

function schedule(task: () => Promise<void>): Promise<void> {
  pending = pending.then(task, task);
  return pending;
}

async function restart(): Promise<void> {
  await stop();
  await start();
}

async function stop(): Promise<void> {
  const running = client;
  client = undefined;
  if (running === undefined) {
    return;
  }
  try {
    await running.stop();
  } catch (err) {
    outputChannel.appendLine(`Stopping the language server failed: ${describe(err)}`);
  }
}

async function start(): Promise<void> {
  const server = readServerCommand();
  const resolved = (server.explicit ? undefined : findProjectCaic()) ?? findExecutable(server.command);
  if (resolved === undefined) {
    outputChannel.appendLine(`Could not find '${server.command}'. ${INSTALL_HINT}`);
    void reportMissing(server.command);
    return;
  }
  outputChannel.appendLine(`Starting ${resolved} ${server.args.join(' ')}`);

  const serverOptions: ServerOptions = {
    command: resolved,
    // No `transport` on purpose: with TransportKind.stdio the client would
    // append `--stdio` to the arguments, which `caic lsp` does not take. The
    // server speaks over its stdin and stdout either way.
    args: server.args,
    options: { cwd: workspaceRoot() },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'const' },
      { scheme: 'untitled', language: 'const' },
    ],
    synchronize: {
      // Imports make one file's diagnostics depend on others: tell the
      // server when any .const file changes on disk.
      fileEvents: vscode.workspace.createFileSystemWatcher('**/*.const'),
    },
    outputChannel,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    // A failed start is reported once, by start() below, instead of through
    // the library's several generic notifications.
    initializationFailedHandler: () => false,
    errorHandler: makeErrorHandler(() => ready),
  };

  let ready = false;
  const candidate = new LanguageClient(CLIENT_ID, CLIENT_NAME, serverOptions, clientOptions);
  try {
    await candidate.start();
    ready = true;
    client = candidate;
  } catch (err) {
    outputChannel.appendLine(`The language server did not start: ${describe(err)}`);
    if (isNotFound(err)) {
      void reportMissing(server.command);
    } else {
      void reportFailure(`${server.command} ${server.args.join(' ')}`, err);
    }
    try {
      await candidate.dispose();
    } catch {
      // Nothing is left to clean up when the process never started.
    }
  }
}

// Before the server is up, errors are left to start(); once it runs, a crash
// restarts it a few times before giving up with one message.
function makeErrorHandler(isReady: () => boolean): ErrorHandler {
  const closes: number[] = [];
  return {
    error: (_error, _message, count) => {
      if (!isReady()) {
        return { action: ErrorAction.Shutdown, handled: true };
      }
      return { action: count !== undefined && count <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown };
    },
    closed: () => {
      if (!isReady()) {
        return { action: CloseAction.DoNotRestart, handled: true };
      }
      const now = Date.now();
      closes.push(now);
      while (closes.length > 0 && now - closes[0] > RESTART_WINDOW_MS) {
        closes.shift();
      }
      if (closes.length <= MAX_RESTARTS) {
        outputChannel.appendLine('The language server stopped unexpectedly; restarting it.');
        return { action: CloseAction.Restart, handled: true };
      }
      return {
        action: CloseAction.DoNotRestart,
        message:
          `The caic language server stopped ${closes.length} times in a few minutes and will not be ` +
          "restarted. Its output is in the 'caic language server' channel; fix the problem, then run " +
          "'caic: Restart language server'.",
      };
    },
  };
}

function readServerCommand(): ServerCommand {
  const config = vscode.workspace.getConfiguration('caic');
  const setting = config.inspect<string>('serverPath');
  const explicit = [setting?.globalValue, setting?.workspaceValue, setting?.workspaceFolderValue]
    .some((v) => typeof v === 'string' && v.trim() !== '');
  const rawCommand = (config.get<string>('serverPath') ?? '').trim() || 'caic';
  const rawArgs = config.get<unknown>('serverArgs');
  const args = Array.isArray(rawArgs)
    ? rawArgs.filter((a): a is string => typeof a === 'string')
    : ['lsp'];
  return {
    command: expandVariables(rawCommand),
    args: args.map(expandVariables),
    explicit,
  };
}

function workspaceRoot(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

function expandVariables(value: string): string {
  const root = workspaceRoot();
  let result = value;
  if (root !== undefined) {
    result = result.split('${workspaceFolder}').join(root);
  }
  if (result === '~' || result.startsWith('~/') || result.startsWith('~\\')) {
    result = path.join(os.homedir(), result.slice(1));
  }
  return result;
}

// Returns the absolute path of the command, or undefined when it cannot be
// found. A bare name is looked up on PATH (with PATHEXT on Windows); a name
// with a directory part is taken relative to the workspace folder.
function findExecutable(command: string): string | undefined {
  const isWindows = process.platform === 'win32';
  const extensions = isWindows
    ? ['', ...(process.env.PATHEXT ?? '.EXE;.CMD;.BAT;.COM').split(';').filter((e) => e !== '')]
    : [''];
  const hasDirectory = command.includes('/') || (isWindows && command.includes('\\'));

  const candidates: string[] = [];
  if (hasDirectory || path.isAbsolute(command)) {
    const base = path.isAbsolute(command) ? command : path.resolve(workspaceRoot() ?? process.cwd(), command);
    candidates.push(base);
  } else {
    for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
      if (dir !== '') {
        candidates.push(path.join(dir, command));
      }
    }
  }
  for (const candidate of candidates) {
    for (const ext of extensions) {
      const file = candidate + ext;
      if (isExecutableFile(file)) {
        return file;
      }
    }
  }
  return undefined;
}

// The caic of the workspace's virtual environment (or of the active
// $VIRTUAL_ENV), or undefined when there is none with caic installed.
function findProjectCaic(): string | undefined {
  const isWindows = process.platform === 'win32';
  const script = isWindows ? path.join('Scripts', 'caic.exe') : path.join('bin', 'caic');
  const roots = (vscode.workspace.workspaceFolders ?? []).map((folder) => folder.uri.fsPath);
  const candidates = roots.flatMap((root) => VENV_DIRS.map((dir) => path.join(root, dir, script)));
  if (process.env.VIRTUAL_ENV) {
    candidates.push(path.join(process.env.VIRTUAL_ENV, script));
  }
  return candidates.find(isExecutableFile);
}

function isExecutableFile(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) {
      return false;
    }
    if (process.platform !== 'win32') {
      fs.accessSync(file, fs.constants.X_OK);
    }
    return true;
  } catch {
    return false;
  }
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT';
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function reportMissing(command: string): Promise<void> {
  const openSettings = 'Open Settings';
  const choice = await vscode.window.showErrorMessage(
    `caic: the language server command '${command}' was not found, so .const files get ` +
      `highlighting but no diagnostics. ${INSTALL_HINT}`,
    openSettings,
  );
  if (choice === openSettings) {
    await vscode.commands.executeCommand('workbench.action.openSettings', 'caic.serverPath');
  }
}

async function reportFailure(commandLine: string, err: unknown): Promise<void> {
  const showOutput = 'Show Output';
  const openSettings = 'Open Settings';
  const choice = await vscode.window.showErrorMessage(
    `caic: '${commandLine}' did not start a language server (${describe(err)}). ` +
      'Check that your caic is installed with the lsp extra and that caic.serverArgs is right.',
    showOutput,
    openSettings,
  );
  if (choice === showOutput) {
    outputChannel.show(true);
  } else if (choice === openSettings) {
    await vscode.commands.executeCommand('workbench.action.openSettings', 'caic.server');
  }
}
