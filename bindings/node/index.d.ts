// Types of wxfs-node. The `wx` object is typed with WeChat's own typings (miniprogram-api-typings),
// narrowed to the apis wxfs implements, so mini-program code written against those typings
// type-checks against it unchanged. Those typings declare globals that clash with TypeScript's DOM
// library: a project compiles with a `lib` without "dom" (e.g. ["es2017"]), as they ask.
/// <reference types="miniprogram-api-typings" />

/** The config of `wxfs_open` (docs/design.md; the README's table of fields and limits). */
export interface Config {
  /** The host's private data directory; one subtree per (user, app). */
  root: string;
  appId: string;
  userId: string;
  /** The mini-program's code package, read-only at `/` (WeChat) paths. */
  packageDir?: string;
  /** The dialect of the object built: `wx` (default), `my`, `tt`, `swan` or `qq`. */
  platform?: 'wechat' | 'alipay' | 'douyin' | 'baidu' | 'qq';
  /** `wxfile` (default) or `http` (devtools-style `http://usr`). */
  protocol?: 'wxfile' | 'http';
  /** A plugin's own sandbox inside the app's. */
  pluginId?: string;
  /** Limits, durability and the other fields the library reads. */
  [field: string]: unknown;
}

export interface OpenOptions {
  /**
   * A `vm` context (vm.createContext) whose code calls the object: its results, Dates, Sync
   * Errors, ArrayBuffers and Promises are then that context's.
   */
  context?: object;
}

/** What the bridge answers: WeChat's errMsg, errCode on failure, and the api's own fields. */
export interface InvokeResult {
  errMsg: string;
  errCode?: number;
  [field: string]: unknown;
}

/** The apis of `wx` that wxfs implements, typed as WeChat types them. */
export type Wx = Pick<
  WechatMiniprogram.Wx,
  | 'getFileSystemManager'
  | 'setStorage'
  | 'setStorageSync'
  | 'getStorage'
  | 'getStorageSync'
  | 'removeStorage'
  | 'removeStorageSync'
  | 'clearStorage'
  | 'clearStorageSync'
  | 'getStorageInfo'
  | 'getStorageInfoSync'
  | 'batchSetStorage'
  | 'batchSetStorageSync'
  | 'batchGetStorage'
  | 'batchGetStorageSync'
  | 'createBufferURL'
  | 'revokeBufferURL'
  | 'canIUse'
  | 'env'
> & {
  /** The legacy file apis: typed as the FileSystemManager methods of the same name (the typings
   * no longer list them on `wx`). */
  saveFile: WechatMiniprogram.FileSystemManager['saveFile'];
  getSavedFileList: WechatMiniprogram.FileSystemManager['getSavedFileList'];
  removeSavedFile: WechatMiniprogram.FileSystemManager['removeSavedFile'];
  getFileInfo: WechatMiniprogram.FileSystemManager['getFileInfo'];
  /** Implemented; absent from miniprogram-api-typings. */
  getSavedFileInfo(option: {
    filePath: string;
    success?: (res: { errMsg: string; size: number; createTime: number }) => void;
    fail?: (res: { errMsg: string; errCode?: number }) => void;
    complete?: (res: { errMsg: string }) => void;
  }): void;
};

export interface Sandbox {
  /** WeChat's object (config `platform` 'wechat', the default). */
  readonly wx: Wx;
  /** The platform's object whatever the platform (`wx`, `my`, `tt`, `swan` or `qq`). */
  readonly api: Record<string, unknown>;
  readonly my?: Record<string, unknown>;
  readonly tt?: Record<string, unknown>;
  readonly swan?: Record<string, unknown>;
  readonly qq?: Record<string, unknown>;
  readonly platform: string;
  /** The library's handle (wxfs_open). */
  readonly handle: number | bigint;
  /** The raw bridge, host.* included; ArrayBuffers in and out as ArrayBuffers. */
  invoke(api: string, args?: Record<string, unknown>): InvokeResult;
  /** Another object over this sandbox for code running in a `vm` context. */
  apiFor(context: object): Wx;
  /** Release the handle; calls in flight complete. Closing twice is a no-op. */
  close(): number;
}

/** Open (or share) a sandbox. Throws an Error whose `code` is the WXFS_E_* status on failure. */
export function open(config: Config, options?: OpenOptions): Sandbox;
/** The names the library answers to (wxfs_api_list), Sync twins and host.* included. */
export function apiList(): string[];
/** Where the library and the addon were found; throws, naming the platform, when nowhere. */
export function locate(env?: Record<string, string | undefined>): { lib: string; addon: string };
/** napi-rs's name of this platform, e.g. `linux-x64-gnu`. */
export function platformTriple(): string;
/** The library version string. */
export function version(): string;
/** The addon itself (invoke/invokeAsync over wxfs_invoke_v2), for hosts that wire bindings/js their own way. */
export function native(): unknown;
