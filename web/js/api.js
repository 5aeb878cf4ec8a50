// The server's HTTP API, as the map uses it. Every error answer of the server
// is JSON { error, message }; getJSON and postJSON turn it into an ApiError
// that keeps the status and the error code, so callers can tell 404 from 400.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    /** HTTP status; 0 when the server could not be reached. */
    this.status = status;
    /** The server's error code (`unknown_parcel`, `not_found`…). */
    this.code = code;
  }
}

/** Where a staff member's API token is kept: this tab only, gone when it closes. */
const TOKEN_KEY = 'imgis-token';

/** The signed-in staff member's API token, or null for the public. */
export function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

/** Keeps (or, given null, forgets) the token for this tab. */
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** The Authorization header for a request to this server, when signed in. */
export function authHeaders(url = window.location.href) {
  const t = token();
  const sameOrigin = new URL(url, window.location.href).origin === window.location.origin;
  return t && sameOrigin ? { Authorization: `Bearer ${t}` } : {};
}

/** GET `path` (same origin) and parse the JSON answer; throws ApiError. */
export function getJSON(path, { signal } = {}) {
  return requestJSON(path, { headers: { Accept: 'application/json', ...authHeaders() }, signal });
}

/** POST `body` as JSON to `path` (same origin) and parse the JSON answer; throws ApiError. */
export function postJSON(path, body, { signal } = {}) {
  return requestJSON(path, {
    method: 'POST',
    headers: { Accept: 'application/json', 'Content-Type': 'application/json', ...authHeaders() },
    body: JSON.stringify(body),
    signal,
  });
}

async function requestJSON(path, init) {
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'unreachable', `сервер недоступен (${e.message})`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: keep body null and report the status below.
  }
  if (!response.ok) {
    throw new ApiError(
      response.status,
      body?.error ?? `http_${response.status}`,
      body?.message ?? response.statusText,
    );
  }
  if (body === null) {
    throw new ApiError(response.status, 'not_json', `${path}: ответ сервера не JSON`);
  }
  return body;
}

/** An absolute URL on this server (MapLibre's workers need absolute URLs). */
export function absolute(path) {
  return new URL(path, window.location.href).href;
}

/** The path of a parcel: cadastral numbers keep their colons readable. */
export function parcelPath(cadastral) {
  return `/parcels/${encodeURIComponent(cadastral).replaceAll('%3A', ':')}`;
}
