// Seed scenario 000, after the restart (a new process: the sandbox closed, reopened, a new
// context): the cached path comes back from storage and the image reads back byte for byte.
var fs = wx.getFileSystemManager();
var cached = wx.getStorageSync('image_cache');
console.log('cached', cached);
var back = fs.readFileSync(cached);
console.log('read', back instanceof ArrayBuffer, back.byteLength);
wx.downloadFile({
  url: 'image.jpg',
  success: function (res) {
    // The original bytes, downloaded again, against the saved file's.
    var a = new Uint8Array(fs.readFileSync(res.tempFilePath));
    var b = new Uint8Array(back);
    var same = a.length === b.length;
    for (var i = 0; same && i < a.length; i++) same = a[i] === b[i];
    console.log('identical', same);
    fs.readFile({
      filePath: cached,
      success: function (r) {
        console.log('async read', r.data.byteLength);
      },
    });
  },
});
