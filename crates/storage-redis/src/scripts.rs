//! The Lua scripts that make each state change atomic. Every script touches only keys
//! of one container's slot (`{NS:len(C):C}`), so it runs on one node in a cluster.
//!
//! Statuses come back as the first element of an array reply: `ok`, `nocontainer`,
//! `noupload`, `precondition`, `notempty`, `changed`.
//!
//! Separate because the scripts are the atomicity argument of the crate docs: every
//! state change is here, in one file, to be read together.

use redis::Script;

/// The put flip. KEYS: info, idx, meta. ARGV: key, mode (`overwrite`, `absent`,
/// `match`), wanted etag (`*` = any), new metadata JSON.
/// Returns `{status, previous metadata or ''}`.
const PUT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {'nocontainer', ''} end
local cur = redis.call('HGET', KEYS[3], ARGV[1])
if ARGV[2] == 'absent' then
  if cur then return {'precondition', cur} end
elseif ARGV[2] == 'match' then
  if not cur then return {'precondition', ''} end
  if ARGV[3] ~= '*' and cjson.decode(cur).etag ~= ARGV[3] then return {'precondition', cur} end
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return {'ok', cur or ''}
";

/// Deletes objects. KEYS: info, idx, meta. ARGV: keys.
/// Returns `{status, previous metadata or '' for each key}`.
const DELETE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {'nocontainer'} end
local out = {'ok'}
for i = 1, #ARGV do
  local cur = redis.call('HGET', KEYS[3], ARGV[i])
  if cur then
    redis.call('HDEL', KEYS[3], ARGV[i])
    redis.call('ZREM', KEYS[2], ARGV[i])
    out[#out + 1] = cur
  else
    out[#out + 1] = ''
  end
end
return out
";

/// Deletes an empty container. KEYS: info, idx, meta, uploads. ARGV: prefix of the
/// upload part hashes (same slot). Returns `{status, object count}`.
const DELETE_CONTAINER: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {'nocontainer', '0'} end
local n = redis.call('ZCARD', KEYS[2])
if n > 0 then return {'notempty', tostring(n)} end
for _, id in ipairs(redis.call('HKEYS', KEYS[4])) do redis.call('DEL', ARGV[1] .. id) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return {'ok', '0'}
";

/// Registers an upload. KEYS: info, uploads. ARGV: id, upload JSON.
const CREATE_UPLOAD: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {'nocontainer'} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {'ok'}
";

/// Records a part. KEYS: info, uploads, up. ARGV: id, part number, part JSON.
/// Returns `{status, previous part JSON or ''}`.
const PUT_PART: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {'nocontainer', ''} end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return {'noupload', ''} end
local prev = redis.call('HGET', KEYS[3], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
return {'ok', prev or ''}
";

/// Completes an upload. KEYS: info, idx, meta, uploads, up. ARGV: id, key, mode,
/// wanted etag, new metadata JSON, then pairs (part number, part JSON read before).
/// The upload is removed whenever it exists, even if the put mode fails (like S3).
/// Returns `{status, previous metadata or '', part number, part JSON, ...}` with every
/// part the upload had; for `changed`, `{changed, part number}`.
const COMPLETE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {'nocontainer', ''} end
if redis.call('HEXISTS', KEYS[4], ARGV[1]) == 0 then return {'noupload', ''} end
for i = 6, #ARGV, 2 do
  if redis.call('HGET', KEYS[5], ARGV[i]) ~= ARGV[i + 1] then return {'changed', ARGV[i]} end
end
local parts = redis.call('HGETALL', KEYS[5])
redis.call('DEL', KEYS[5])
redis.call('HDEL', KEYS[4], ARGV[1])
local cur = redis.call('HGET', KEYS[3], ARGV[2])
local status = 'ok'
if ARGV[3] == 'absent' then
  if cur then status = 'precondition' end
elseif ARGV[3] == 'match' then
  if not cur then status = 'precondition'
  elseif ARGV[4] ~= '*' and cjson.decode(cur).etag ~= ARGV[4] then status = 'precondition' end
end
if status == 'ok' then
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[5])
  redis.call('ZADD', KEYS[2], 0, ARGV[2])
end
local out = {status, cur or ''}
for i = 1, #parts do out[#out + 1] = parts[i] end
return out
";

/// Aborts an upload. KEYS: info, uploads, up. ARGV: id.
/// Returns `{status, part number, part JSON, ...}`.
const ABORT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {'nocontainer'} end
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return {'noupload'} end
local parts = redis.call('HGETALL', KEYS[3])
redis.call('DEL', KEYS[3])
local out = {'ok'}
for i = 1, #parts do out[#out + 1] = parts[i] end
return out
";

/// The scripts, hashed once; `redis::Script` sends EVALSHA and loads on NOSCRIPT.
#[derive(Debug)]
pub(crate) struct Scripts {
    pub put: Script,
    pub delete: Script,
    pub delete_container: Script,
    pub create_upload: Script,
    pub put_part: Script,
    pub complete: Script,
    pub abort: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Scripts {
            put: Script::new(PUT),
            delete: Script::new(DELETE),
            delete_container: Script::new(DELETE_CONTAINER),
            create_upload: Script::new(CREATE_UPLOAD),
            put_part: Script::new(PUT_PART),
            complete: Script::new(COMPLETE),
            abort: Script::new(ABORT),
        }
    }
}

/// The first element of a script reply, as text: the status.
pub(crate) fn status(reply: &[Vec<u8>]) -> &str {
    reply.first().and_then(|s| std::str::from_utf8(s).ok()).unwrap_or("")
}
