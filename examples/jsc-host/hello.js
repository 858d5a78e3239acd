// A mini-program's first lines, run by examples/jsc-host's host in JavaScriptCore.
var fs = wx.getFileSystemManager();
var visits = (wx.getStorageSync('visits') || 0) + 1;
wx.setStorageSync('visits', visits);
console.log('visit', visits);
fs.writeFileSync(wx.env.USER_DATA_PATH + '/hello.bin', new Uint8Array([104, 105]).buffer);
fs.readFile({
  filePath: wx.env.USER_DATA_PATH + '/hello.bin',
  success: function (res) {
    console.log('read', res.data.byteLength, 'bytes:', String.fromCharCode.apply(null, new Uint8Array(res.data)));
  },
});
wx.getStorageInfo().then(function (info) {
  console.log('keys', info.keys.join(','));
});
console.log('script done; the callbacks come from the event loop');
