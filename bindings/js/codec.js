// ArrayBuffers across the bridge (docs/design.md §8): lifted out of an argument object into
// `__nativeBuffers__`, and put back into a result object. Engine-neutral: no Node, browser or FFI API.
//
// Two carriages, matching the two C entry points:
// - binary (`wxfs_invoke_v2`): `{"key", "index"}` entries name buffers passed beside the JSON; in a
//   result, only the top-level list names buffers, with `"at": [..]` for a field of a nested object.
// - base64 (`wxfs_invoke`): `{"key", "base64"}` entries; in a result each object carries its own
//   list (the only nested ones are readZipEntry's `entries`).
'use strict';

var B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
var B64_INDEX = (function () {
  // A loop rather than TypedArray fill: engines with typed arrays but an ES5 library lack it.
  var t = new Int16Array(128);
  for (var j = 0; j < 128; j++) t[j] = -1;
  for (var i = 0; i < 64; i++) t[B64.charCodeAt(i)] = i;
  return t;
})();

var toStringTag = Object.prototype.toString;

/**
 * An ArrayBuffer or a view of one, from this realm or any other (a `vm` context, an iframe):
 * `instanceof ArrayBuffer` sees only this realm's, while isView and the internal tag see all.
 */
function isBinary(v) {
  return ArrayBuffer.isView(v) || (v !== null && typeof v === 'object' && toStringTag.call(v) === '[object ArrayBuffer]');
}

/** The bytes of an ArrayBuffer or a view of one (any realm), as a Uint8Array over the same memory. */
function bytesOf(v) {
  if (!ArrayBuffer.isView(v)) return new Uint8Array(v);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/**
 * `buf` as an ArrayBuffer of `realm` ({ArrayBuffer, Uint8Array, JSON} of the realm results are for;
 * null: this one). A buffer of another realm is copied: its bytes cannot change realm.
 */
function adopt(buf, realm) {
  if (!realm || buf instanceof realm.ArrayBuffer) return buf;
  var copy = new realm.Uint8Array(buf.byteLength);
  copy.set(new Uint8Array(buf));
  return copy.buffer;
}

function toBase64(v) {
  var b = bytesOf(v);
  var out = '';
  var chunk = [];
  var i = 0;
  for (; i + 2 < b.length; i += 3) {
    var n = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
    chunk.push(B64[n >> 18], B64[(n >> 12) & 63], B64[(n >> 6) & 63], B64[n & 63]);
    if (chunk.length >= 8192) {
      out += chunk.join('');
      chunk.length = 0;
    }
  }
  if (i < b.length) {
    var m = b[i] << 16;
    if (i + 1 < b.length) m |= b[i + 1] << 8;
    chunk.push(B64[m >> 18], B64[(m >> 12) & 63], i + 1 < b.length ? B64[(m >> 6) & 63] : '=', '=');
  }
  return out + chunk.join('');
}

function fromBase64(s, realm) {
  var len = s.length;
  while (len > 0 && s[len - 1] === '=') len--;
  var out = new (realm ? realm.Uint8Array : Uint8Array)(Math.floor((len * 3) / 4));
  var o = 0;
  var acc = 0;
  var bits = 0;
  for (var i = 0; i < len; i++) {
    var c = s.charCodeAt(i);
    var v = c < 128 ? B64_INDEX[c] : -1;
    if (v < 0) throw new Error('invalid base64 from the bridge');
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 255;
    }
  }
  return out.buffer;
}

/**
 * Lift the top-level ArrayBuffer (or view) fields named in `keys` (all of them when `keys` is
 * null) out of `args`. Returns the JSON text and, for the binary carriage, the buffers.
 */
function encodeArgs(args, keys, binary) {
  if (args === undefined || args === null) return { json: '{}', buffers: undefined };
  if (keys !== null && keys.length === 0) return { json: JSON.stringify(args), buffers: undefined };
  var lifted = null;
  for (var k in args) {
    if (!Object.prototype.hasOwnProperty.call(args, k)) continue;
    if (keys !== null && keys.indexOf(k) < 0) continue;
    if (isBinary(args[k])) (lifted || (lifted = [])).push(k);
  }
  if (lifted === null) return { json: JSON.stringify(args), buffers: undefined };
  var copy = {};
  for (var key in args) if (Object.prototype.hasOwnProperty.call(args, key)) copy[key] = args[key];
  var list = [];
  var buffers = binary ? [] : undefined;
  for (var i = 0; i < lifted.length; i++) {
    var name = lifted[i];
    if (binary) {
      list.push({ key: name, index: buffers.length });
      buffers.push(copy[name]);
    } else {
      list.push({ key: name, base64: toBase64(copy[name]) });
    }
    delete copy[name];
  }
  copy.__nativeBuffers__ = list;
  return { json: JSON.stringify(copy), buffers: buffers };
}

function putBack(obj, list, buffers, realm) {
  for (var i = 0; i < list.length; i++) {
    var e = list[i];
    var target = obj;
    if (e.at) for (var j = 0; j < e.at.length && target; j++) target = target[e.at[j]];
    if (!target) continue;
    target[e.key] = e.index !== undefined ? adopt(buffers[e.index], realm) : fromBase64(e.base64, realm);
  }
}

/**
 * A result object from the binary carriage: JSON text and the buffers it names by index. With
 * `realm` ({JSON, ArrayBuffer, Uint8Array}), its objects and buffers are that realm's.
 */
function decodeBinary(json, buffers, realm) {
  var r = (realm ? realm.JSON : JSON).parse(json);
  var list = r.__nativeBuffers__;
  if (list !== undefined) {
    delete r.__nativeBuffers__;
    putBack(r, list, buffers || [], realm);
  }
  return r;
}

/** A result object from the base64 carriage (`wxfs_invoke`); `realm` as for decodeBinary. */
function decodeBase64(json, realm) {
  var r = (realm ? realm.JSON : JSON).parse(json);
  var list = r.__nativeBuffers__;
  if (list !== undefined) {
    delete r.__nativeBuffers__;
    putBack(r, list, null, realm);
  }
  // readZipEntry's entries are the only nested objects that carry their own lists.
  var entries = r.entries;
  if (entries && typeof entries === 'object' && !Array.isArray(entries)) {
    for (var name in entries) {
      var e = entries[name];
      if (e && Array.isArray(e.__nativeBuffers__)) {
        var own = e.__nativeBuffers__;
        delete e.__nativeBuffers__;
        putBack(e, own, null, realm);
      }
    }
  }
  return r;
}

module.exports = {
  isBinary: isBinary,
  bytesOf: bytesOf,
  adopt: adopt,
  toBase64: toBase64,
  fromBase64: fromBase64,
  encodeArgs: encodeArgs,
  decodeBinary: decodeBinary,
  decodeBase64: decodeBase64,
};
