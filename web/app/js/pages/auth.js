// Sign in, sign up (email -> code -> user id and password), forgot password, the account
// page (sign out, delete the account).

import { api, explain, ApiError } from '../api.js';
import { h, field, show, busy, statusLine } from '../ui.js';
import { go, signedIn, signedOut, loadClasses, session } from '../app.js';

const PASSWORD_HINT = 'At least 8 characters, mixing at least two kinds: lower case, upper case, digits, symbols.';

async function startSession(email, password) {
  signedIn(await api('POST', '/session', { email, password }));
  await loadClasses();
}

export async function signIn(view) {
  const email = field('Email', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = field('Password', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const box = h('div', { role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { novalidate: true }, email.wrap, password.wrap, box, h('div', { class: 'actions' }, submit));
  const remembered = sessionStorage.getItem('rollcall.email');
  if (remembered) email.input.value = remembered;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    box.hidden = true;
    email.error(email.input.value.trim() ? '' : 'Enter your email address.');
    password.error(password.input.value ? '' : 'Enter your password.');
    if (!email.input.value.trim() || !password.input.value) return;
    await busy(submit, async () => {
      try {
        await startSession(email.input.value.trim(), password.input.value);
        sessionStorage.removeItem('rollcall.email');
        go('/app/attendance', true);
      } catch (error) {
        const text = error instanceof ApiError && error.status === 403
          ? 'The email or the password is wrong. Check both, or use "Forgot your password?" below.'
          : explain(error);
        show(box, 'error-box', text);
      }
    });
  });
  view.append(
    h('h1', {}, 'Sign in'),
    h('p', { class: 'lead' }, 'Take attendance from one photo of your class.'),
    form,
    h('p', {}, 'New to Rollcall? ', h('a', { href: '/app/signup' }, 'Create an account')),
    h('p', {}, h('a', { href: '/app/forgot' }, 'Forgot your password?')),
  );
}

/**
 * A "Send again" button that counts down the cooldown: `seconds` from the answer
 * (`cooldown_seconds`) or from `Retry-After`.
 */
function resendButton(send) {
  const button = h('button', { type: 'button', class: 'secondary' }, 'Send the code again');
  let timer = null;
  const countdown = (seconds) => {
    clearInterval(timer);
    let left = seconds;
    const tick = () => {
      if (left <= 0) {
        clearInterval(timer);
        button.disabled = false;
        button.textContent = 'Send the code again';
        return;
      }
      button.disabled = true;
      button.textContent = `Send again in ${left} s`;
      left -= 1;
    };
    tick();
    timer = setInterval(tick, 1000);
  };
  button.addEventListener('click', () => send(button));
  return { button, countdown };
}

/** Shows a 422/409 detail beside the field it is about. */
function fieldError(error, fields, fallback) {
  const detail = error instanceof ApiError ? error.detail : '';
  for (const [prefix, f] of fields) {
    if (detail.toLowerCase().startsWith(prefix)) {
      f.error(detail.charAt(0).toUpperCase() + detail.slice(1) + (detail.endsWith('.') ? '' : '.'));
      f.input.focus();
      return;
    }
  }
  fallback(explain(error));
}

export async function signUp(view) {
  const status = statusLine();
  const box = h('div', { role: 'alert', hidden: true });

  // Step 1: the address.
  const email = field('Email', { type: 'email', name: 'email', autocomplete: 'email', required: true },
    'We send a 6-digit code to this address to check it is yours.');
  const sendButton = h('button', { type: 'submit' }, 'Send the code');
  const step1 = h('form', { novalidate: true }, email.wrap, h('div', { class: 'actions' }, sendButton));

  // Step 2: the code.
  const code = field('6-digit code', { type: 'text', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 6, pattern: '[0-9]{6}', required: true });
  const sentTo = h('p', {});
  const confirm = h('button', { type: 'submit' }, 'Confirm the code');
  const resend = resendButton((button) => sendCode(button));
  const step2 = h('form', { novalidate: true, hidden: true }, h('h2', {}, 'Check your email'), sentTo, code.wrap,
    h('div', { class: 'actions' }, confirm, resend.button));

  // Step 3: user id and password.
  const userId = field('User name', { type: 'text', name: 'user_id', autocomplete: 'nickname', maxlength: 64, required: true },
    'How Rollcall names you, for example ms-rivera.');
  const password = field('Password', { type: 'password', name: 'new-password', autocomplete: 'new-password', required: true }, PASSWORD_HINT);
  const create = h('button', { type: 'submit' }, 'Create my account');
  const step3 = h('form', { novalidate: true, hidden: true }, h('h2', {}, 'Choose a user name and password'), userId.wrap, password.wrap,
    h('div', { class: 'actions' }, create));

  async function sendCode(button) {
    box.hidden = true;
    const address = email.input.value.trim();
    email.error(address.includes('@') ? '' : 'Enter your email address, like name@school.org.');
    if (!address.includes('@')) { email.input.focus(); return; }
    let answer;
    try {
      answer = await busy(button, () => api('POST', '/send-email-verification-otp', { email: address }));
    } catch (error) {
      if (error instanceof ApiError && error.status === 429 && error.retryAfter) {
        step2.hidden = false;
        sendButton.hidden = true;
        resend.countdown(error.retryAfter);
      }
      if (error instanceof ApiError && error.status === 422) email.error('This is not a valid email address.');
      else show(box, 'error-box', explain(error));
      return;
    }
    sentTo.textContent = `We sent a 6-digit code to ${address}. It is valid for 5 minutes. If it does not arrive, look in the spam folder.`;
    step2.hidden = false;
    email.input.readOnly = true;
    sendButton.hidden = true;
    status.textContent = 'Code sent.';
    code.input.focus();
    resend.countdown(answer.cooldown_seconds || 60);
  }

  step1.addEventListener('submit', (event) => { event.preventDefault(); sendCode(sendButton); });
  step2.addEventListener('submit', async (event) => {
    event.preventDefault();
    box.hidden = true;
    const value = code.input.value.trim();
    if (!/^[0-9]{6}$/.test(value)) { code.error('Enter the 6 digits from the email.'); code.input.focus(); return; }
    code.error('');
    await busy(confirm, async () => {
      try {
        await api('POST', '/verify-email-confirm-otp', { email: email.input.value.trim(), otp: value });
        step1.hidden = true;
        step2.hidden = true;
        step3.hidden = false;
        status.textContent = 'Email confirmed.';
        userId.input.focus();
      } catch (error) {
        if (error instanceof ApiError && error.status === 400) {
          code.error('This code is wrong or has expired. Check the latest email, or send a new code.');
          code.input.focus();
        } else show(box, 'error-box', explain(error));
      }
    });
  });
  step3.addEventListener('submit', async (event) => {
    event.preventDefault();
    box.hidden = true;
    userId.error('');
    password.error('');
    if (!userId.input.value.trim()) { userId.error('Choose a user name.'); userId.input.focus(); return; }
    if (password.input.value.length < 8) { password.error('The password must be at least 8 characters long.'); password.input.focus(); return; }
    await busy(create, async () => {
      const address = email.input.value.trim();
      try {
        await api('POST', '/create_user', { user_id: userId.input.value.trim(), email: address, password: password.input.value });
      } catch (error) {
        if (error instanceof ApiError && error.status === 409) {
          userId.error('This user name is taken. Choose another one.');
          userId.input.focus();
        } else {
          fieldError(error, [['password', password], ['user_id', userId]], (text) => show(box, 'error-box', text));
        }
        return;
      }
      try {
        await startSession(address, password.input.value);
        session.flash = 'Welcome to Rollcall! Start by adding your students: one clear photo of each face.';
        go('/app/students', true);
      } catch (error) {
        show(box, 'error-box', `Your account is ready, but signing in failed: ${explain(error)}`);
      }
    });
  });

  view.append(
    h('h1', {}, 'Create your account'),
    h('p', { class: 'lead' }, 'Three short steps: your email, the code we send to it, then a user name and password.'),
    step1, step2, step3, box, status,
    h('p', {}, 'Already have an account? ', h('a', { href: '/app/signin' }, 'Sign in')),
  );
}

export async function forgotPassword(view) {
  const status = statusLine();
  const box = h('div', { role: 'alert', hidden: true });
  const email = field('Email', { type: 'email', name: 'email', autocomplete: 'username', required: true },
    'The address of your Rollcall account. We send a 6-digit code to it.');
  const sendButton = h('button', { type: 'submit' }, 'Send the code');
  const step1 = h('form', { novalidate: true }, email.wrap, h('div', { class: 'actions' }, sendButton));

  const code = field('6-digit code', { type: 'text', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 6, required: true });
  const password = field('New password', { type: 'password', name: 'new-password', autocomplete: 'new-password', required: true }, PASSWORD_HINT);
  const change = h('button', { type: 'submit' }, 'Change the password');
  const resend = resendButton((button) => send(button));
  const sentTo = h('p', {});
  const step2 = h('form', { novalidate: true, hidden: true }, h('h2', {}, 'Check your email'), sentTo, code.wrap, password.wrap,
    h('div', { class: 'actions' }, change, resend.button));

  async function send(button) {
    box.hidden = true;
    const address = email.input.value.trim();
    email.error(address.includes('@') ? '' : 'Enter your email address.');
    if (!address.includes('@')) return;
    let answer;
    try {
      answer = await busy(button, () => api('POST', '/forgot-password-send-otp', { email: address }));
    } catch (error) {
      if (error instanceof ApiError && error.status === 429 && error.retryAfter) {
        step2.hidden = false;
        sendButton.hidden = true;
        resend.countdown(error.retryAfter);
      }
      show(box, 'error-box', explain(error));
      return;
    }
    sentTo.textContent = `If ${address} has a Rollcall account, we sent a 6-digit code to it. It is valid for 5 minutes.`;
    step2.hidden = false;
    sendButton.hidden = true;
    email.input.readOnly = true;
    status.textContent = 'Code sent.';
    code.input.focus();
    resend.countdown(answer.cooldown_seconds || 60);
  }
  step1.addEventListener('submit', (event) => { event.preventDefault(); send(sendButton); });
  step2.addEventListener('submit', async (event) => {
    event.preventDefault();
    box.hidden = true;
    code.error('');
    password.error('');
    const address = email.input.value.trim();
    await busy(change, async () => {
      try {
        await api('PUT', '/forgot-password-verify-otp', { email: address, otp: code.input.value.trim(), new_password: password.input.value });
        sessionStorage.setItem('rollcall.email', address);
        signedOut('Your password is changed. Sign in with the new password.');
        go('/app/signin', true);
      } catch (error) {
        if (error instanceof ApiError && error.status === 400) {
          code.error('This code is wrong or has expired. Check the latest email, or send a new code.');
          code.input.focus();
        } else {
          fieldError(error, [['password', password]], (text) => show(box, 'error-box', text));
        }
      }
    });
  });
  view.append(
    h('h1', {}, 'Forgot your password?'),
    h('p', { class: 'lead' }, 'Get a code by email, then choose a new password.'),
    step1, step2, box, status,
    h('p', {}, h('a', { href: '/app/signin' }, 'Back to sign in')),
  );
}

export async function signOut() {
  try { await api('DELETE', '/session'); } catch { /* signed out anyway */ }
  signedOut('You are signed out.');
  go('/app/signin', true);
}

export async function account(view) {
  const me = session.me;
  const students = await api('GET', '/get_all_students');
  const classes = session.classes.length;
  const box = h('div', { role: 'alert', hidden: true });
  const out = h('button', { type: 'button', class: 'secondary', onclick: signOut }, 'Sign out');

  const confirmEmail = field('Type your email address to confirm', { type: 'email', name: 'confirm-email', autocomplete: 'off' });
  const del = h('button', { type: 'submit', class: 'danger' }, 'Delete my account');
  const form = h('form', { novalidate: true }, confirmEmail.wrap, box, h('div', { class: 'actions' }, del));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (confirmEmail.input.value.trim().toLowerCase() !== me.email.toLowerCase()) {
      confirmEmail.error(`Type ${me.email} exactly, to show you mean it.`);
      confirmEmail.input.focus();
      return;
    }
    confirmEmail.error('');
    await busy(del, async () => {
      try {
        await api('DELETE', '/delete_account');
        signedOut('Your account and everything in it were deleted.');
        go('/app/signin', true);
      } catch (error) {
        show(box, 'error-box', explain(error));
      }
    });
  });
  const n = students.msg.length;
  view.append(
    h('h1', {}, 'Your account'),
    h('dl', {}, h('dt', {}, 'User name'), h('dd', {}, me.user_id), h('dt', {}, 'Email'), h('dd', {}, me.email)),
    h('div', { class: 'actions' }, out),
    h('h2', {}, 'Delete your account'),
    h('p', {}, `This deletes your account, your ${classes} class${classes === 1 ? '' : 'es'}, `
      + `your ${n} student${n === 1 ? '' : 's'} with their face data, and all attendance records. `
      + 'It cannot be undone. Download your reports first if you need them.'),
    form,
  );
}
