//! The storage APIs (spec.md §5.2, §10). Values are JSON plus an optional dataType string.

use serde_json::Value;

use super::args::Args;
use super::reply::Reply;
use super::Ctx;
use crate::error::{code, Error, Result};
use crate::session::Session;
use crate::storage::{StoreError, Value as Stored};

fn store_error(e: StoreError) -> Error {
    Error::from(e)
}

fn key_of<'a>(a: &'a Args<'_>) -> Result<&'a str> {
    let key = a.str("key")?;
    if key.is_empty() {
        return Err(store_error(StoreError::EmptyKey));
    }
    Ok(key)
}

/// `data` (any JSON; absent means undefined and is kept as null) and the optional dataType.
fn stored(data: Option<Value>, data_type: Option<&Value>, a: &Args, field: &str) -> Result<Stored> {
    let data_type = match data_type {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(_) => return Err(Error::param(a.param_code, "dataType", "String", "Object")),
    };
    let data = serde_json::to_string(&data.unwrap_or(Value::Null))
        .map_err(|e| Error::param(a.param_code, field, "JSON", &e.to_string()))?;
    Ok(Stored { data, data_type })
}

fn parse_data(v: &Stored) -> Value {
    serde_json::from_str(&v.data).unwrap_or(Value::Null)
}

pub fn set(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let key = key_of(a)?.to_string();
    let encrypt = a.bool_or("encrypt", false)?;
    let data = a.take_value("data");
    let value = stored(data, a.value("dataType"), a, "data")?;
    s.store.set(&key, value, s.storage_limits(encrypt)).map_err(store_error)?;
    Ok(Reply::new())
}

pub fn get(s: &Session, a: &mut Args, ctx: &Ctx) -> Result<Reply> {
    let key = key_of(a)?;
    match s.store.get(key) {
        Some(v) => {
            let mut r = Reply::new().set("data", parse_data(&v));
            if let Some(t) = &v.data_type {
                r.insert("dataType", t.clone());
            }
            Ok(r)
        }
        // What JavaScript sees in WeChat: getStorageSync yields "", getStorage fails (spec.md §10).
        None if ctx.api.ends_with("Sync") => Ok(Reply::new().set("data", "")),
        None => Err(Error::new(code::STORAGE_NOT_FOUND, "data not found")),
    }
}

pub fn remove(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let key = key_of(a)?;
    s.store.remove(key).map_err(store_error)?;
    Ok(Reply::new())
}

pub fn clear(s: &Session, _: &mut Args, _: &Ctx) -> Result<Reply> {
    s.store.clear().map_err(store_error)?;
    Ok(Reply::new())
}

pub fn info(s: &Session, _: &mut Args, _: &Ctx) -> Result<Reply> {
    let kb = |b: u64| b.div_ceil(1024);
    Ok(Reply::new()
        .set("keys", s.store.keys())
        .set("currentSize", kb(s.store.size()))
        .set("limitSize", s.config.limits.storage_total / 1024))
}

pub fn batch_set(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let Some(Value::Array(list)) = a.take_value("kvList") else {
        return Err(Error::param(a.param_code, "kvList", "Array", "Undefined"));
    };
    let mut items = Vec::with_capacity(list.len());
    for item in list {
        let Value::Object(mut o) = item else {
            return Err(Error::param(a.param_code, "kvList", "Array of Object", "Array"));
        };
        let key = match o.get("key") {
            Some(Value::String(k)) if !k.is_empty() => k.clone(),
            Some(Value::String(_)) => return Err(store_error(StoreError::EmptyKey)),
            _ => return Err(Error::param(a.param_code, "kvList[].key", "String", "Undefined")),
        };
        let dt = o.get("dataType").cloned();
        let value = stored(o.remove("value"), dt.as_ref(), a, "kvList[].value")?;
        items.push((key, value));
    }
    s.store.set_batch(items, s.storage_limits(false)).map_err(store_error)?;
    Ok(Reply::new())
}

pub fn batch_get(s: &Session, a: &mut Args, _: &Ctx) -> Result<Reply> {
    let Some(Value::Array(keys)) = a.value("keyList") else {
        return Err(Error::param(a.param_code, "keyList", "Array", "Undefined"));
    };
    let mut data = Vec::with_capacity(keys.len());
    let mut types = Vec::with_capacity(keys.len());
    for k in keys {
        let Value::String(k) = k else {
            return Err(Error::param(a.param_code, "keyList[]", "String", "Number"));
        };
        match s.store.get(k) {
            Some(v) => {
                data.push(parse_data(&v));
                types.push(v.data_type.clone().map(Value::String).unwrap_or(Value::Null));
            }
            None => {
                data.push(Value::String(String::new()));
                types.push(Value::Null);
            }
        }
    }
    let mut r = Reply::new().set("dataList", data);
    if types.iter().any(|t| !t.is_null()) {
        r.insert("dataTypeList", types);
    }
    Ok(r)
}
