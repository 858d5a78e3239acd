// Alipay's `my`: the same core as `wx`, in Alipay's envelope and argument shapes
// (docs/platforms/alipay.md; ALI-T = ant-mini-program/api-typings lib.my.d.ts).
// - Results carry no errMsg: a failure is {error, errorMessage}, a success the payload (most with
//   success: true). Sync forms return the whole result object ({data, dataType}, {files}, ...).
// - FileSystemManager Sync forms take positional arguments or one object (the typings' two
//   overloads); storage Sync forms take one object only: getStorageSync({key}) -> {data}.
// - setStorageSync (and, decided, every storage Sync form) RETURNS its failure object
//   (ALI-D my.setStorageSync.md: 失败时返回值与 my.setStorage 的 fail 回调参数相同); a FileSystemManager
//   Sync failure is thrown (unconfirmed; the decision in docs/platforms/alipay.md).
// - No fd apis, readZipEntry, readCompressedFile or batch storage (ALI-T interface FileSystemManager);
//   getFileInfoSync, getSavedFileListSync and removeSavedFileSync are Alipay's own.
// - The legacy my.saveFile family names the path apFilePath (the library accepts and answers it).
'use strict';

var derive = require('./derive');

var all = '*';
var storage = {
  setStorage: { sync: 'option', params: ['key', 'data'], returns: all, storage: true },
  getStorage: { sync: 'option', params: ['key'], returns: all, storage: true },
  removeStorage: { sync: 'option', params: ['key'], returns: all, storage: true },
  clearStorage: { sync: 'option', params: [], returns: all, storage: true },
  getStorageInfo: { sync: 'option', params: [], returns: all, storage: true },
};

function row(sync, params) {
  return { sync: sync, params: params, returns: all };
}

var fsm = {
  access: row(['path'], ['path']),
  appendFile: row(['filePath', 'data', 'encoding'], ['filePath', 'data', 'encoding']),
  copyFile: row(['srcPath', 'destPath'], ['srcPath', 'destPath']),
  getFileInfo: row(['filePath', 'digestAlgorithm'], ['filePath', 'digestAlgorithm']),
  getSavedFileList: row([], []),
  mkdir: row(['dirPath', 'recursive'], ['dirPath', 'recursive']),
  readdir: row(['dirPath'], ['dirPath']),
  readFile: row(['filePath', 'encoding'], ['filePath', 'encoding']),
  removeSavedFile: row(['filePath'], ['filePath']),
  rename: row(['oldPath', 'newPath'], ['oldPath', 'newPath']),
  rmdir: row(['dirPath', 'recursive'], ['dirPath', 'recursive']),
  saveFile: row(['tempFilePath', 'filePath'], ['tempFilePath', 'filePath']),
  stat: row(['path', 'recursive'], ['path', 'recursive']),
  unlink: row(['filePath'], ['filePath']),
  unzip: { sync: null, params: ['zipFilePath', 'targetPath'] },
  writeFile: row(['filePath', 'data', 'encoding'], ['filePath', 'data', 'encoding']),
};

var legacy = {
  saveFile: { sync: null, params: ['apFilePath', 'filePath'] },
  getSavedFileList: { sync: null, params: [] },
  getSavedFileInfo: { sync: null, params: ['apFilePath'] },
  removeSavedFile: { sync: null, params: ['apFilePath'] },
  getFileInfo: { sync: null, params: ['apFilePath', 'digestAlgorithm'] },
};

function merge(a, b) {
  var o = {};
  [a, b].forEach(function (x) {
    Object.keys(x).forEach(function (k) {
      o[k] = x[k];
    });
  });
  return o;
}

var STORAGE_SYNC = ['setStorageSync', 'getStorageSync', 'removeStorageSync', 'clearStorageSync', 'getStorageInfoSync'];

module.exports = derive({
  name: 'my',
  fileSystemManager: Object.keys(fsm),
  fsmOverrides: fsm,
  globals: Object.keys(storage).concat(Object.keys(legacy)),
  globalOverrides: merge(storage, legacy),
  userDataPath: 'https://usr',
  syncTakesObject: true,
  isOk: function (res) {
    return !!res && typeof res === 'object' && res.error === undefined;
  },
  syncError: function (res, realm) {
    var e = new (realm ? realm.Error : Error)(res.errorMessage);
    e.error = res.error;
    e.errorMessage = res.errorMessage;
    return e;
  },
  // A failure made on the JS side (arguments JSON cannot carry, a refused queue): `code` when the
  // library gave one, else 2 (接口参数无效).
  failure: function (api, message, code) {
    return { error: code === undefined ? 2 : code, errorMessage: message };
  },
  syncFailure: function (api) {
    return STORAGE_SYNC.indexOf(api) >= 0 ? 'result' : 'throw';
  },
});
