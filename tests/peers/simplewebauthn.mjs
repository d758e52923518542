// SimpleWebAuthn (@simplewebauthn/server) on the corpus registrations
// `keysmith bench verify` measures: one event loop, JSON on stdout.
// Usage: node simplewebauthn.mjs --corpus DIR --seconds S --vector ID [--vector ID …]
//
// The record's trust anchors are given as the format's root certificates
// (SettingsService.setRootCertificates), so the chain is validated on
// every call, as SimpleWebAuthn does. A record is verified at the clock
// Keysmith uses for it (see py_peers.py): SimpleWebAuthn reads the time
// for certificate validity from `new Date()` and Date.now(), which this
// script sets.
import { readFileSync } from 'node:fs';
import { verifyRegistrationResponse, SettingsService } from '@simplewebauthn/server';

const args = { vector: [] };
for (let i = 2; i < process.argv.length; i += 2) {
  const [k, v] = [process.argv[i].replace(/^--/, ''), process.argv[i + 1]];
  if (k === 'vector') args.vector.push(v);
  else args[k] = v;
}
const seconds = Number(args.seconds ?? 2);
const anchors = JSON.parse(readFileSync(`${args.corpus}/trust_anchors.json`, 'utf8'));
const records = new Map(
  readFileSync(`${args.corpus}/vectors.jsonl`, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l))
    .map((v) => [v.id, v]),
);

const RealDate = Date;
let fixed = null; // the clock in ms, or null for the real one
globalThis.Date = class extends RealDate {
  constructor(...a) {
    if (a.length === 0 && fixed !== null) super(fixed);
    else super(...a);
  }
  static now() {
    return fixed ?? RealDate.now();
  }
};
const clock = (v) => v.verify_at ?? v.py_webauthn?.at_time ?? v.verify_at_suggested ?? null;

async function rate(work) {
  let n = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  for (;;) {
    for (let i = 0; i < 16; i++) await work();
    n += 16;
    const now = performance.now();
    if (now >= deadline) return (n * 1000) / (now - start);
  }
}

const rows = [];
for (const id of args.vector) {
  const v = records.get(id);
  if (!v) throw new Error(`no record ${id} in the corpus`);
  const roots = (v.trust_anchor_refs ?? []).map((name) => anchors[name].pem);
  SettingsService.setRootCertificates({ identifier: v.fmt, certificates: roots });
  const at = clock(v);
  fixed = at ? RealDate.parse(at) : null;
  const verify = async () => {
    const out = await verifyRegistrationResponse({
      response: {
        id: v.credential_id,
        rawId: v.credential_id,
        type: 'public-key',
        response: { clientDataJSON: v.client_data_json, attestationObject: v.attestation_object },
        clientExtensionResults: {},
      },
      expectedChallenge: v.challenge,
      expectedOrigin: v.origin,
      expectedRPID: v.rp_id,
      requireUserVerification: false,
    });
    if (!out.verified) throw new Error('not verified');
  };
  try {
    await verify();
  } catch (e) {
    rows.push({ vector: id, error: String(e.message ?? e) });
    continue;
  }
  rows.push({ vector: id, perSec: Math.round(await rate(verify)) });
}
fixed = null;
const version = JSON.parse(
  readFileSync(new URL('./node_modules/@simplewebauthn/server/package.json', import.meta.url), 'utf8'),
).version;
console.log(JSON.stringify({ implementation: 'SimpleWebAuthn', version, node: process.version, registrations: rows }));
