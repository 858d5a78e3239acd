// WeChat's shape of the file and storage APIs, as data: which object holds each api, the
// positional parameters of each Sync form, what a Sync form returns, and whether an async form
// returns a Promise when called without callbacks. The api names themselves come from the library
// (wxfs_api_list); a row here only says how WeChat presents one, and is dropped when the library
// does not answer to it. Another platform (my, tt, swan, qq) is another table of this shape.
//
// Sources: `miniprogram-api-typings` 5.2.3 on npm (types/wx/lib.wx.api.d.ts: `interface
// FileSystemManager`, `interface Wx`, `PromisifySuccessResult`), checked against this table by
// bindings/node/test/typings.test.js; the legacy wx.saveFile family from the same file at its Dec
// 2022 revision (docs/wechat-behaviour.md §1.1).
'use strict';

// FileSystemManager methods. `sync`: the Sync form's positional parameters in WeChat's order,
// 'option' when the Sync form takes the option object, null when WeChat has no Sync form.
// `params`: the option object's fields (for canIUse). `returns`: what the Sync form returns, taken
// from the success result (a field name, a list of fields for an object, or null for undefined).
var fileSystemManager = {
  access: { sync: ['path'], params: ['path'], returns: null },
  appendFile: { sync: ['filePath', 'data', 'encoding'], params: ['filePath', 'data', 'encoding'], returns: null },
  close: { sync: 'option', params: ['fd'], returns: null },
  copyFile: { sync: ['srcPath', 'destPath'], params: ['srcPath', 'destPath'], returns: null },
  fstat: { sync: 'option', params: ['fd'], returns: 'stats' },
  ftruncate: { sync: 'option', params: ['fd', 'length'], returns: null },
  getFileInfo: { sync: null, params: ['filePath', 'digestAlgorithm'] },
  getSavedFileList: { sync: null, params: [] },
  mkdir: { sync: ['dirPath', 'recursive'], params: ['dirPath', 'recursive'], returns: null },
  open: { sync: 'option', params: ['filePath', 'flag'], returns: 'fd' },
  read: { sync: 'option', params: ['fd', 'arrayBuffer', 'offset', 'length', 'position'], returns: ['bytesRead', 'arrayBuffer'] },
  readCompressedFile: { sync: 'option', params: ['filePath', 'compressionAlgorithm'], returns: 'data' },
  readFile: { sync: ['filePath', 'encoding', 'position', 'length'], params: ['filePath', 'encoding', 'position', 'length'], returns: 'data' },
  readZipEntry: { sync: null, params: ['filePath', 'entries', 'encoding'] },
  readdir: { sync: ['dirPath'], params: ['dirPath'], returns: 'files' },
  removeSavedFile: { sync: null, params: ['filePath'] },
  rename: { sync: ['oldPath', 'newPath'], params: ['oldPath', 'newPath'], returns: null },
  rmdir: { sync: ['dirPath', 'recursive'], params: ['dirPath', 'recursive'], returns: null },
  saveFile: { sync: ['tempFilePath', 'filePath'], params: ['tempFilePath', 'filePath'], returns: 'savedFilePath' },
  stat: { sync: ['path', 'recursive'], params: ['path', 'recursive'], returns: 'stats' },
  truncate: { sync: 'option', params: ['filePath', 'length'], returns: null },
  unlink: { sync: ['filePath'], params: ['filePath'], returns: null },
  unzip: { sync: null, params: ['zipFilePath', 'targetPath'] },
  write: { sync: 'option', params: ['fd', 'data', 'offset', 'length', 'encoding', 'position'], returns: ['bytesWritten'] },
  writeFile: { sync: ['filePath', 'data', 'encoding'], params: ['filePath', 'data', 'encoding'], returns: null },
};

// Global `wx.*` apis: storage (with batch) and the legacy file apis. The same keys as above;
// `storage` marks the apis whose values go through dataType revival.
var globals = {
  setStorage: { sync: ['key', 'data'], params: ['key', 'data', 'encrypt'], returns: null, storage: true },
  getStorage: { sync: ['key'], params: ['key', 'encrypt'], returns: 'data', storage: true },
  removeStorage: { sync: ['key'], params: ['key'], returns: null, storage: true },
  clearStorage: { sync: [], params: [], returns: null, storage: true },
  getStorageInfo: { sync: [], params: [], returns: ['keys', 'currentSize', 'limitSize'], storage: true },
  batchSetStorage: { sync: ['kvList'], params: ['kvList'], returns: null, storage: true },
  batchGetStorage: { sync: ['keyList'], params: ['keyList'], returns: 'dataList', storage: true },
  saveFile: { sync: null, params: ['tempFilePath', 'filePath'] },
  getSavedFileList: { sync: null, params: [] },
  getSavedFileInfo: { sync: null, params: ['filePath'] },
  removeSavedFile: { sync: null, params: ['filePath'] },
  getFileInfo: { sync: null, params: ['filePath', 'digestAlgorithm'] },
};

module.exports = {
  name: 'wx',
  fileSystemManagerClass: 'FileSystemManager',
  fileSystemManager: fileSystemManager,
  globals: globals,
  // "以 Promise 风格调用：不支持" on every FileSystemManager page; every async wx.* api since 2.10.2.
  promise: { fileSystemManager: false, globals: true },
  // Argument fields that may hold an ArrayBuffer (they cross the bridge as bytes).
  binaryFields: ['data', 'arrayBuffer'],
  userDataPath: function (protocol) {
    return (protocol || 'wxfile') + '://usr';
  },
  // How a value JSON cannot carry is stored (`dataType`) and revived.
  storageTypes: {
    encode: function (value) {
      if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
        return { data: null, dataType: 'Undefined' };
      }
      // A Date of any realm (a `vm` context's too).
      if (Object.prototype.toString.call(value) === '[object Date]') {
        var t = value.getTime();
        return { data: t === t ? t : null, dataType: 'Date' };
      }
      return { data: value, dataType: undefined };
    },
    /** `realm`: {Date, ...} of the realm the value is for, or null for this one. */
    decode: function (data, dataType, realm) {
      if (dataType === 'Date') return new (realm ? realm.Date : Date)(data === null ? NaN : data);
      if (dataType === 'Undefined') return undefined;
      return data;
    },
  },
};
