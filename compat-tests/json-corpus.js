'use strict';
/*
 * The JSON values that used to break a connection to a Rust peer ("JSON as Node reads it"),
 * shared by peer.js (case json-edge) and gen-json-vectors.js (golden vectors and fuzz seeds).
 *
 * Each entry is one call argument, either a JavaScript value (written by JSON.stringify like any
 * other argument) or `raw`: bytes that JSON.stringify cannot produce and that must appear in the
 * payload exactly as given (`1e400`, `-0`, a byte that is not UTF-8).
 *
 * Raw bytes get into a payload in two steps, because every Node library builds its payload with
 * JSON.stringify and then turns the string into a Buffer itself:
 *   1. the argument is a RawToken whose toJSON() returns a marker string (U+E000, `raw:`, a
 *      number, U+E000); JSON.stringify writes it as `"\uE000raw:<n>\uE000"` (private-use
 *      characters are written as they are, never escaped);
 *   2. where the library turns the payload string into bytes (peer.js patches exactly that
 *      function of the selected library: stream-pkg's and pinus' Composer#compose, mqtt-
 *      connection's publish, ws 0.4's WebSocket#send), rawify() replaces each quoted marker
 *      with the token's bytes and hands the library a Buffer instead of the string; framing
 *      (length prefixes, MQTT remaining length, WebSocket frame header) is then computed by the
 *      library from the real bytes.
 * rawify() counts what it replaced, so a caller can prove the bytes went out (a library path
 * that was not patched would send the marker as an ordinary string and must not pass silently).
 */

var MARK = '\ue000';
var tokens = [];
var stats = {replaced: 0};

function RawToken(bytes) {
  this.bytes = Buffer.from(bytes);
  this.index = tokens.length;
  tokens.push(this);
}

RawToken.prototype.toJSON = function() {
  return MARK + 'raw:' + this.index + MARK;
};

var MARKER_RE = new RegExp('"' + MARK + 'raw:(\\d+)' + MARK + '"', 'g');

// The payload string with every quoted marker replaced by its token's bytes, as a Buffer; the
// string itself (not a copy) when it holds no marker.
function rawify(str) {
  if (typeof str !== 'string' || str.indexOf(MARK) < 0) {
    return str;
  }
  var parts = [];
  var last = 0;
  var m;
  MARKER_RE.lastIndex = 0;
  while ((m = MARKER_RE.exec(str)) !== null) {
    var token = tokens[Number(m[1])];
    if (!token) {
      throw new Error('json-corpus: unknown raw token ' + m[1]);
    }
    parts.push(Buffer.from(str.slice(last, m.index), 'utf8'), token.bytes);
    last = m.index + m[0].length;
    stats.replaced++;
  }
  if (parts.length === 0) {
    return str;
  }
  parts.push(Buffer.from(str.slice(last), 'utf8'));
  return Buffer.concat(parts);
}

function nestedArray(depth) {
  var v = [];
  for (var i = 1; i < depth; i++) {
    v = [v];
  }
  return v;
}

// The corpus, in the order it is sent. `value`: a JavaScript value; `raw`: exact bytes.
var CORPUS = [
  // What 'line 😀'.substr(0, n) produces when n cuts the emoji: JSON.stringify writes "\ud83d".
  {name: 'cut-emoji', value: 'cut mid-emoji \ud83d'},
  {name: 'lone-low', value: '\udc00 low first'},
  {name: 'nested-1000', value: nestedArray(1000)},
  // Node reads it as Infinity; JSON.stringify would write null.
  {name: 'number-1e400', raw: Buffer.from('1e400')},
  // "a<FF>b": buffer.toString() reads the FF as U+FFFD.
  {name: 'invalid-utf8', raw: Buffer.from([0x22, 0x61, 0xff, 0x62, 0x22])},
  // JSON.stringify(-0) is "0"; the text -0 must be written by hand.
  {name: 'minus-zero', raw: Buffer.from('-0')}
];

// The argument as it goes into a payload: a RawToken for raw entries, the value otherwise.
function argument(entry) {
  if (entry.raw) {
    if (!entry.token) {
      entry.token = new RawToken(entry.raw);
    }
    return entry.token;
  }
  return entry.value;
}

// The exact JSON text of the argument in the payload.
function argumentBytes(entry) {
  return entry.raw ? Buffer.from(entry.raw) : Buffer.from(JSON.stringify(entry.value), 'utf8');
}

// JSON-like text of a value as a JavaScript program holds it, with what JSON.stringify hides:
// -0, Infinity, -Infinity, NaN and undefined are written as such.
function exactText(v) {
  if (v === undefined) {
    return 'undefined';
  }
  if (typeof v === 'number') {
    if (Object.is(v, -0)) {
      return '-0';
    }
    return isFinite(v) ? JSON.stringify(v) : String(v);
  }
  if (v === null || typeof v !== 'object') {
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) {
    return '[' + v.map(exactText).join(',') + ']';
  }
  return '{' + Object.keys(v).map(function(k) {
    return JSON.stringify(k) + ':' + exactText(v[k]);
  }).join(',') + '}';
}

module.exports = {
  CORPUS: CORPUS,
  RawToken: RawToken,
  rawify: rawify,
  stats: stats,
  argument: argument,
  argumentBytes: argumentBytes,
  exactText: exactText,
  nestedArray: nestedArray
};
