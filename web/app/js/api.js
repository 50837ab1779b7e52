// The app is a client of Rollcall's documented JSON API, signed in with the session cookie
// (HttpOnly: scripts never see the token). Writes send the session's CSRF token, kept in
// memory only (never in localStorage).

let csrfToken = null;
let onSessionEnded = () => {};

export function setCsrf(token) { csrfToken = token; }
export function whenSessionEnds(callback) { onSessionEnded = callback; }

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super((body && body.detail) || `Request failed (${status})`);
    this.status = status;
    this.detail = (body && body.detail) || '';
    this.reasons = (body && body.reasons) || [];
    this.retryAfter = Number.parseInt(retryAfter || '', 10) || 0;
  }
}

const OFFLINE = { detail: 'Rollcall cannot be reached. Check the connection and try again.' };

function headers(method, json) {
  const h = { Accept: 'application/json' };
  if (json) h['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) h['X-CSRF-Token'] = csrfToken;
  return h;
}

function failed(status, path) {
  // An ended session anywhere but the session check itself sends the teacher to sign in.
  if (status === 401 && path !== '/session') onSessionEnded();
}

/** A JSON request; resolves to the JSON answer, rejects with an ApiError. */
export async function api(method, path, body) {
  const options = { method, headers: headers(method, body !== undefined), credentials: 'same-origin' };
  if (body !== undefined) options.body = JSON.stringify(body);
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError(0, OFFLINE);
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    failed(response.status, path);
    throw new ApiError(response.status, data, response.headers.get('Retry-After'));
  }
  return data;
}

/**
 * A multipart upload with progress: `progress(fraction)` while the photo is sent, then
 * `progress(null)` while the server works on it.
 */
export function upload(path, form, progress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.responseType = 'json';
    for (const [name, value] of Object.entries(headers('POST', false))) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) progress(e.loaded / e.total); };
    xhr.upload.onload = () => progress(null);
    xhr.onerror = () => reject(new ApiError(0, OFFLINE));
    xhr.onload = () => {
      const data = xhr.response || {};
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(data);
      } else {
        failed(xhr.status, path);
        reject(new ApiError(xhr.status, data, xhr.getResponseHeader('Retry-After')));
      }
    };
    xhr.send(form);
  });
}

/** What went wrong, in words a teacher can act on. */
export function explain(error) {
  if (!(error instanceof ApiError)) return 'Something went wrong. Reload the page and try again.';
  const wait = error.retryAfter ? ` Try again in ${duration(error.retryAfter)}.` : '';
  switch (error.status) {
    case 0: return error.detail;
    case 408: return 'The photo took too long to send. Check the connection and try again.';
    case 413: return 'The photo is too large. Use a photo under 15 MB (the camera app\'s normal size is fine).';
    case 415: return 'That file cannot be sent. Choose a photo.';
    case 429: return `${error.detail}.${wait}`.replace('..', '.');
    case 500: return 'Rollcall hit a problem it did not expect. Try again; if it keeps happening, tell whoever runs Rollcall.';
    case 502:
    case 503: return `Rollcall is busy or a part of it is down.${wait || ' Try again in a few seconds.'}`;
    default: return error.detail || `Request failed (${error.status}).`;
  }
}

/** "45 seconds", "3 minutes". */
export function duration(seconds) {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minutes`;
}

/** The API paths of a class: the original endpoints for the default class. */
export function classPaths(cls) {
  const base = `/classes/${cls.id}`;
  const roll = (r) => encodeURIComponent(r);
  if (cls.default) {
    return {
      roster: `${base}/students`,
      enrol: '/addStudent',
      mark: '/mark_attendance',
      correct: (r, date) => `/attendance/${roll(r)}/${date}`,
      report: '/attendance/report',
    };
  }
  return {
    roster: `${base}/students`,
    enrol: `${base}/students`,
    mark: `${base}/attendance`,
    correct: (r, date) => `${base}/attendance/${roll(r)}/${date}`,
    report: `${base}/attendance`,
  };
}
