#!/usr/bin/env node
'use strict';
/*
 * Golden vectors for reading JSON as Node reads it: for every input, Node itself says whether
 * `JSON.parse(Buffer.from(bytes).toString())` accepts it (the way every pomelo / pinus peer reads
 * a payload) and, if so, what `JSON.stringify` makes of the parsed value.
 *
 *   node compat-tests/gen-json-vectors.js > fixtures/golden/json-vectors.json
 *   node compat-tests/gen-json-vectors.js --fuzz-seeds fuzz/corpus
 *
 * The first form prints the vectors (tests/json_vectors.rs checks the Rust reader against them
 * and regenerates the file to compare it with the committed one). The second writes the values
 * of json-corpus.js as fuzz seeds (files seed-json-*), framed for each fuzz target: raw values
 * and RPC payloads for `json` and `envelope`, stream-pkg frames (stream-pkg 0.0.5, as
 * pomelo-rpc 0.4.11 writes them) for `stream_pkg`, MQTT PUBLISH packets on topic `rpc`
 * (mqtt-packet, as pomelo-rpc 1.0.7 writes them) for `mqtt`.
 *
 * Only the verdict is recorded for refused inputs ("SyntaxError"), not V8's message, which
 * changes between Node versions. When JSON.stringify itself throws (it recurses; JSON.parse
 * does not), `stringify_error` names what it threw.
 */

var fs = require('fs');
var path = require('path');
var corpus = require('./json-corpus');

function b(s) {
  return Buffer.from(s, 'utf8');
}

function bytes(arr) {
  return Buffer.from(arr);
}

function cat() {
  return Buffer.concat(Array.prototype.map.call(arguments, function(x) {
    return typeof x === 'string' ? b(x) : x;
  }));
}

function nested(open, close, depth, leaf) {
  return b(open.repeat(depth) + leaf + close.repeat(depth));
}

// [name, bytes]
var INPUTS = [];
function add(name, input) {
  INPUTS.push([name, input]);
}

// The live corpus (compat-tests/json-corpus.js), each value as a whole document.
corpus.CORPUS.forEach(function(entry) {
  add('corpus ' + entry.name, corpus.argumentBytes(entry));
});

// Lone surrogates: in values and keys, either half, paired, mis-paired.
add('lone high at the end', b('"cut \\ud83d"'));
add('lone high in an array', b('["\\ud83d", 1]'));
add('lone low first', b('"\\udc00x"'));
add('lone high in a key', b('{"k\\ud800": 1}'));
add('lone low in a key and a value', b('{"\\udfff": "v\\udbff"}'));
add('high then a non-surrogate escape', b('"\\ud83d\\u0041"'));
add('two highs', b('"\\ud83d\\ud83d"'));
add('low then high (reversed pair)', b('"\\ude00\\ud83d"'));
add('high then a raw character', b('"\\ud83dx"'));
add('surrogate pair', b('"\\ud83d\\ude00"'));
add('surrogate pair in upper case', b('"\\uD83D\\uDE00"'));
add('surrogate pair as raw UTF-8', b('"\ud83d\ude00"'));
add('pair followed by a lone high', b('"\\ud83d\\ude00\\ud83d"'));
add('escaped backslash before u', b('"\\\\ud800"'));
add('escaped backslash then a lone escape', b('"\\\\\\ud800"'));
add('lone surrogate in a nested key', b('{"a": [{"\\udc00": "\\ud800"}]}'));
// \u0000 and other escapes
add('escaped NUL', b('"a\\u0000b"'));
add('escaped NUL in a key', b('{"\\u0000": 0}'));
add('raw NUL in a string', bytes([0x22, 0x61, 0x00, 0x62, 0x22]));
add('raw tab in a string', b('"a\tb"'));
add('raw DEL in a string', bytes([0x22, 0x7f, 0x22]));
add('all simple escapes', b('"\\" \\\\ \\/ \\b \\f \\n \\r \\t"'));
add('unknown escape', b('"\\x41"'));
add('short unicode escape', b('"\\u12"'));
add('non-hex unicode escape', b('"\\uZZZZ"'));
add('U+2028 and U+2029 raw in a string', b('"\u2028\u2029"'));
// BOM
add('BOM before the value', cat(bytes([0xef, 0xbb, 0xbf]), '1'));
add('BOM inside a string', cat('"', bytes([0xef, 0xbb, 0xbf]), '"'));
add('escaped BOM', b('"\\ufeff"'));
// commas, structure
add('trailing comma in an array', b('[1,]'));
add('trailing comma in an object', b('{"a": 1,}'));
add('leading comma', b('[,1]'));
add('double comma', b('[1,,2]'));
add('empty input', b(''));
add('only whitespace', b(' \n'));
add('two values', b('1 2'));
add('unclosed array', b('[1'));
add('unclosed string', b('"abc'));
add('single quotes', b("'a'"));
add('unquoted key', b('{a: 1}'));
add('duplicate keys', b('{"a": 1, "b": 2, "a": 3}'));
add('integer-like keys', b('{"b": 1, "2": 2, "1": 3, "01": 4, "-1": 5}'));
add('__proto__ key', b('{"__proto__": {"x": 1}}'));
add('empty key', b('{"": ""}'));
// literals
add('literals', b('[true, false, null]'));
add('truncated literal', b('tru'));
add('NaN', b('NaN'));
add('Infinity literal', b('Infinity'));
add('undefined', b('undefined'));
// numbers
add('leading zero', b('01'));
add('negative leading zero', b('-01'));
add('double zero', b('00'));
add('zero point five', b('0.5'));
add('minus zero point zero', b('-0.0'));
add('minus zero exponent', b('-0e0'));
add('bare fraction', b('.5'));
add('trailing dot', b('1.'));
add('plus sign', b('+1'));
add('bare minus', b('-'));
add('exponent without digits', b('1e'));
add('exponent sign without digits', b('1e+'));
add('upper-case exponent', b('1E5'));
add('1e400', b('1e400'));
add('-1e400', b('-1e400'));
add('1E+400 in an array', b('[1E+400, 2]'));
add('1e-400', b('1e-400'));
add('-1e-400', b('-1e-400'));
add('1 and 400 zeros', b('1' + '0'.repeat(400)));
add('largest double', b('1.7976931348623157e308'));
add('just past the largest double', b('1.7976931348623159e308'));
add('smallest subnormal', b('5e-324'));
add('half the smallest subnormal', b('2e-324'));
add('2^53', b('9007199254740992'));
add('2^53 + 1', b('9007199254740993'));
add('-(2^53 + 1)', b('-9007199254740993'));
add('2^63', b('9223372036854775808'));
add('-(2^63)', b('-9223372036854775808'));
add('-(2^63) - 1', b('-9223372036854775809'));
add('2^64', b('18446744073709551616'));
add('huge integer', b('123456789012345678901234567890'));
add('1e21', b('1e21'));
add('1e20 written out', b('100000000000000000000'));
add('123.0', b('123.0'));
add('0.1', b('0.1'));
add('1e-7', b('1e-7'));
add('0.000001', b('0.000001'));
add('many digits', b('3.14159265358979323846264338327950288'));
// whitespace
add('spaces around', b(' 1 '));
add('JSON whitespace', b('\t\n\r [\t1\n,\r2 ] \n'));
add('vertical tab', b('\u000b1'));
add('form feed', b('\u000c1'));
add('no-break space', b('\u00a01'));
add('U+2028 outside a string', b('[\u20281]'));
// invalid UTF-8 (buffer.toString() reads each maximal invalid subsequence as U+FFFD)
add('FF', bytes([0x22, 0xff, 0x22]));
add('FE', bytes([0x22, 0xfe, 0x22]));
add('lone continuation byte', bytes([0x22, 0x61, 0x80, 0x62, 0x22]));
add('two continuation bytes', bytes([0x22, 0x80, 0xbf, 0x22]));
add('overlong slash, 2 bytes', bytes([0x22, 0xc0, 0xaf, 0x22]));
add('overlong slash, 3 bytes', bytes([0x22, 0xe0, 0x80, 0xaf, 0x22]));
add('overlong slash, 4 bytes', bytes([0x22, 0xf0, 0x80, 0x80, 0xaf, 0x22]));
add('overlong NUL, 2 bytes', bytes([0x22, 0xc0, 0x80, 0x22]));
add('truncated 2-byte sequence', bytes([0x22, 0xc3, 0x22]));
add('truncated 3-byte sequence', bytes([0x22, 0xe2, 0x82, 0x22]));
add('truncated 4-byte sequence', bytes([0x22, 0xf0, 0x9f, 0x98, 0x22]));
add('truncated sequence at the end of the input', bytes([0x22, 0x61, 0x22, 0xe2, 0x82]));
add('encoded high surrogate ED A0 80', bytes([0x22, 0xed, 0xa0, 0x80, 0x22]));
add('encoded low surrogate ED BF BF', bytes([0x22, 0xed, 0xbf, 0xbf, 0x22]));
add('encoded surrogate pair', bytes([0x22, 0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80, 0x22]));
add('5-byte form', bytes([0x22, 0xf8, 0x88, 0x80, 0x80, 0x80, 0x22]));
add('6-byte form', bytes([0x22, 0xfc, 0x84, 0x80, 0x80, 0x80, 0x80, 0x22]));
add('past U+10FFFF', bytes([0x22, 0xf4, 0x90, 0x80, 0x80, 0x22]));
add('C1 and F5 lead bytes', bytes([0x22, 0xc1, 0xbf, 0xf5, 0x80, 0x22]));
add('invalid byte in a key', bytes([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]));
add('invalid byte outside a string', bytes([0x5b, 0x31, 0xff, 0x5d]));
add('invalid byte after the value', bytes([0x31, 0xff]));
add('valid multi-byte characters', b('"é 中文 😀 \u0080 \u07ff \u0800 \uffff"'));
// nesting
add('array nested 129 deep', nested('[', ']', 129, ''));
add('object nested 1000 deep', b('{"a":'.repeat(1000) + '0' + '}'.repeat(1000)));
add('mixed nesting 2000 deep', b('[{"k":'.repeat(1000) + 'null' + '}]'.repeat(1000)));
// Node's JSON.parse takes any depth; its JSON.stringify runs out of stack (RangeError) a little
// below 5000 levels, so this one records stringify_error.
add('array nested 10000 deep', nested('[', ']', 10000, ''));

function verdict(input) {
  var text = input.toString();
  var value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return {accepted: false, error: e.name};
  }
  try {
    return {accepted: true, stringify: JSON.stringify(value)};
  } catch (e) {
    return {accepted: true, stringifyError: e.name};
  }
}

function printVectors() {
  var lines = INPUTS.map(function(pair) {
    var v = verdict(pair[1]);
    var out = {name: pair[0], hex: pair[1].toString('hex'), accepted: v.accepted};
    if (v.stringifyError) {
      out.stringify_error = v.stringifyError;
    } else if (v.accepted) {
      out.stringify = v.stringify;
    } else {
      out.error = v.error;
    }
    return '  ' + JSON.stringify(out);
  });
  process.stdout.write('{\n' +
    '"generator": "compat-tests/gen-json-vectors.js",\n' +
    '"rule": "JSON.parse(Buffer.from(hex, \'hex\').toString()); accepted: whether it returned, ' +
    'stringify: JSON.stringify of what it returned (stringify_error: the name of what that threw), ' +
    'error: the name of what JSON.parse threw",\n' +
    '"vectors": [\n' + lines.join(',\n') + '\n]\n}\n');
}

// ---------------------------------------------------------------------------
// fuzz seeds

function request(arg) {
  return cat('{"id":1,"msg":{"namespace":"user","serverType":"demo","service":"echoRemote",' +
    '"method":"echo","args":[', arg, ']}}');
}

function response(arg) {
  return cat('{"id":1,"resp":[null,', arg, ']}');
}

function writeFuzzSeeds(root) {
  var Composer = require(require.resolve('stream-pkg',
    {paths: [path.dirname(require.resolve('pomelo-rpc-04/package.json'))]}));
  var mqttPacket = require(require.resolve('mqtt-packet',
    {paths: [path.dirname(require.resolve('pomelo-rpc/package.json'))]}));
  var publish = function(payload) {
    return mqttPacket.generate({cmd: 'publish', topic: 'rpc', payload: payload, qos: 0, retain: false, dup: false});
  };
  var composer = new Composer();
  var written = 0;
  var write = function(target, name, data) {
    var dir = path.join(root, target);
    fs.mkdirSync(dir, {recursive: true});
    fs.writeFileSync(path.join(dir, 'seed-json-' + name), data);
    written++;
  };
  corpus.CORPUS.forEach(function(entry) {
    var arg = corpus.argumentBytes(entry);
    var req = request(arg);
    var resp = response(arg);
    var batch = cat('[', req, ',', req, ']');
    write('json', entry.name, arg);
    ['json', 'envelope'].forEach(function(target) {
      write(target, entry.name + '-request', req);
      write(target, entry.name + '-response', resp);
      write(target, entry.name + '-batch', batch);
    });
    // codec targets: byte 0 = number of read sizes that follow (fuzz/fuzz_targets/common.rs);
    // 00 = the whole stream in one read, 03 07 00 1f = reads of 8, 1, 32, 8, ... bytes.
    var frames = cat(composer.compose(req), composer.compose(resp));
    write('stream_pkg', entry.name, cat(bytes([0x00]), frames));
    write('stream_pkg', entry.name + '-split', cat(bytes([0x03, 0x07, 0x00, 0x1f]), frames));
    var packets = cat(publish(req), publish(resp));
    write('mqtt', entry.name, cat(bytes([0x00]), packets));
    write('mqtt', entry.name + '-split', cat(bytes([0x03, 0x07, 0x00, 0x1f]), packets));
  });
  process.stderr.write('wrote ' + written + ' seed files under ' + root + '\n');
}

var argv = process.argv.slice(2);
if (argv[0] === '--fuzz-seeds' && argv[1]) {
  writeFuzzSeeds(argv[1]);
} else if (argv.length === 0) {
  printVectors();
} else {
  process.stderr.write('usage: node gen-json-vectors.js [--fuzz-seeds DIR]\n');
  process.exit(2);
}
