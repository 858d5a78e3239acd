// QQ's `qq` (docs/platforms/qq.md; QQ-D = q.qq.com docs, a copy of WeChat's): WeChat's shapes,
// errMsg and errCode (assumed), qqfile://usr, qqfile://tmp_, qqfile://store_ paths; Sync
// failures throw. Only the documented methods: no fd apis, readZipEntry, readCompressedFile or
// batch storage (unconfirmed, so not offered).
'use strict';

var derive = require('./derive');

module.exports = derive({
  name: 'qq',
  fileSystemManager: [
    'access', 'appendFile', 'saveFile', 'getSavedFileList', 'removeSavedFile', 'copyFile', 'getFileInfo', 'mkdir',
    'readdir', 'readFile', 'rename', 'rmdir', 'stat', 'unlink', 'unzip', 'writeFile',
  ],
  globals: ['setStorage', 'getStorage', 'removeStorage', 'clearStorage', 'getStorageInfo'],
  userDataPath: 'qqfile://usr',
});
