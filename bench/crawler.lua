-- wrk script for the crawler run: every post page exactly once, in a random order.
--
-- WRK_KEYS names a file with one post slug (or id) per line (already shuffled), asked for
-- as WRK_PATH_PREFIX .. key (default "/posts/"; "/v1/posts/" crawls the API); thread i of
-- WRK_THREADS takes lines i, i+n, i+2n, ... and stops once it has had an answer for each
-- of them, then creates the file WRK_DONE_DIR/i. wrk itself only ends when its duration
-- is over or it gets SIGINT, so bench/run.sh sends SIGINT once every thread is done;
-- `done` prints the crawl's own count and time (first request to last answer), and how
-- many of those answers were not a 200 (wrk itself counts no 3xx as an error):
--   crawl_pages=N crawl_seconds=S crawl_rps=R crawl_non200=M
local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_usec; } crawl_timeval;
  int gettimeofday(crawl_timeval *tv, void *tz);
]]
local function now()
  local tv = ffi.new("crawl_timeval")
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) + tonumber(tv.tv_usec) / 1e6
end

local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local count = tonumber(os.getenv("WRK_THREADS"))
  keys = {}
  local line_number = 0
  for line in io.lines(os.getenv("WRK_KEYS")) do
    if line_number % count == index then
      keys[#keys + 1] = line
    end
    line_number = line_number + 1
  end
  prefix = os.getenv("WRK_PATH_PREFIX") or "/posts/"
  next_key = 1
  answered = 0
  non200 = 0
  started = now()
  finished = 0
end

function request()
  -- Past the end (a connection asks while the last answers are on their way): ask again
  -- for the first page; the thread stops before that answer can count.
  local key = keys[next_key] or keys[1]
  next_key = next_key + 1
  return wrk.format("GET", prefix .. key)
end

function response(status, headers, body)
  if answered == #keys then return end -- an answer that came with the last one
  answered = answered + 1
  if status ~= 200 then non200 = non200 + 1 end
  if answered == #keys then
    finished = now()
    local marker = io.open(os.getenv("WRK_DONE_DIR") .. "/" .. index, "w")
    marker:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local first, last, pages, bad = math.huge, 0, 0, 0
  for _, thread in ipairs(threads) do
    first = math.min(first, thread:get("started"))
    last = math.max(last, thread:get("finished"))
    pages = pages + thread:get("answered")
    bad = bad + thread:get("non200")
  end
  local seconds = last - first
  io.write(string.format("crawl_pages=%d crawl_seconds=%.3f crawl_rps=%.0f crawl_non200=%d\n",
    pages, seconds, pages / seconds, bad))
end
