// The roster (sorted by roll number, with search) and adding a student from a photo
// (a file, or the camera where the browser offers it).

import { api, upload, explain, classPaths, ApiError } from '../api.js';
import { h, field, show, busy, statusLine, confirmDialog, byRollNo, uid } from '../ui.js';
import { currentClass, loadClasses, session } from '../app.js';

/** Each quality-gate reason: what is wrong, and what to do about it. */
export const REASONS = {
  NO_FACE: ['No face was found in the photo.', 'Take the photo so that the student\'s face fills a good part of it.'],
  MULTIPLE_FACES: ['More than one face is in the photo.', 'Take a photo with only this student in it, or crop the others out.'],
  FACE_TOO_SMALL: ['The face is too small.', 'Move closer, or crop the photo around the face.'],
  FACE_CUT_OFF: ['Part of the face is outside the photo.', 'Keep the whole head inside the frame, with some space around it.'],
  HEAD_TURNED: ['The head is turned.', 'Ask the student to look straight at the camera.'],
  HEAD_TILTED: ['The head is tilted.', 'Ask the student to hold their head straight, not leaning to one side.'],
  HEAD_UP_DOWN: ['The student is looking up or down.', 'Hold the camera at the height of their eyes, and ask them to look into it.'],
  TOO_BLURRY: ['The photo is blurry.', 'Hold the phone still, tap the face to focus, and take it again.'],
  TOO_DARK: ['The face is too dark.', 'Move to a brighter place, with the light in front of the student, not behind.'],
  TOO_BRIGHT: ['The face is too bright.', 'Move out of direct sunlight and turn the flash off.'],
  LOW_DETECTION_SCORE: ['The face is not clearly visible.', 'Remove anything covering the face (hair, hands, a mask) and use a sharper photo.'],
};

export async function students(view) {
  const cls = currentClass();
  const paths = classPaths(cls);
  const status = statusLine();
  const { msg } = await api('GET', paths.roster);
  const list = [...msg].sort(byRollNo);

  const search = field('Search by name or roll number', { type: 'search', name: 'search', autocomplete: 'off' });
  const count = h('p', { 'aria-live': 'polite' });
  const tbody = h('tbody');
  const table = h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'Students' }, h('table', {},
    h('caption', { class: 'sr-only' }, `Students of ${cls.name}, by roll number`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Roll no.'), h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
    tbody));

  const draw = () => {
    const q = search.input.value.trim().toLowerCase();
    const shown = list.filter((s) => !q || s.name.toLowerCase().includes(q) || s.roll_no.toLowerCase().includes(q));
    tbody.replaceChildren(...shown.map((s) => h('tr', {},
      h('td', {}, s.roll_no),
      h('td', {}, h('a', { href: `/app/student/${encodeURIComponent(s.roll_no)}` }, s.name)),
      h('td', { class: 'num' }, h('button', {
        type: 'button', class: 'secondary small', 'aria-label': `Delete ${s.name}`,
        onclick: () => remove(s),
      }, 'Delete')))));
    count.textContent = q ? `${shown.length} of ${list.length} students match.` : `${list.length} student${list.length === 1 ? '' : 's'}.`;
  };

  async function remove(student) {
    const sure = await confirmDialog(`Delete ${student.name}?`,
      `Roll number ${student.roll_no}. Their face data and all their attendance are deleted, in every class. This cannot be undone.`,
      'Delete the student');
    if (!sure) return;
    try {
      await api('DELETE', `/delete_student/${encodeURIComponent(student.roll_no)}`);
      list.splice(list.indexOf(student), 1);
      draw();
      status.textContent = `${student.name} was deleted.`;
      await loadClasses();
      search.input.focus();
    } catch (error) {
      status.textContent = explain(error);
    }
  }

  search.input.addEventListener('input', draw);
  view.append(
    h('h1', {}, 'Students'),
    h('p', { class: 'lead' }, cls.name),
    h('div', { class: 'actions' }, h('a', { class: 'button', href: '/app/students/add' }, 'Add a student')),
    status,
  );
  if (list.length === 0) {
    view.append(h('div', { class: 'notice' },
      h('p', {}, h('strong', {}, 'No students yet.')),
      h('p', {}, 'Add each student with one clear photo of their face. Rollcall uses it to recognise them in your class photos.')));
  } else {
    view.append(h('div', { class: 'roster-tools' }, search.wrap), count, table);
    draw();
  }
  view.append(newClassForm());
}

/** A small form to create another class. */
function newClassForm() {
  const name = field('Class name', { type: 'text', name: 'class-name', maxlength: 100, autocomplete: 'off' }, 'For example 7B Maths. New classes start empty.');
  const create = h('button', { type: 'submit', class: 'secondary' }, 'Create the class');
  const status = statusLine();
  const form = h('form', { novalidate: true }, name.wrap, h('div', { class: 'actions' }, create), status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!name.input.value.trim()) { name.error('Give the class a name.'); return; }
    name.error('');
    await busy(create, async () => {
      try {
        const made = await api('POST', '/classes', { name: name.input.value.trim() });
        session.classId = made.id;
        sessionStorage.setItem('rollcall.class', String(made.id));
        await loadClasses();
        document.getElementById('class-picker').hidden = false;
        status.textContent = `Class ${made.name} created and chosen. Add its students with "Add a student".`;
        name.input.value = '';
      } catch (error) {
        name.error(explain(error));
      }
    });
  });
  return h('details', {}, h('summary', {}, 'Create another class'), form);
}

/** A photo from the camera, where the browser offers one. */
function camera(onPhoto) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return null;
  const video = h('video', { autoplay: true, playsinline: true, muted: true, 'aria-label': 'Camera preview' });
  const snap = h('button', { type: 'button' }, 'Take the photo');
  const stop = h('button', { type: 'button', class: 'secondary' }, 'Close the camera');
  const area = h('div', { class: 'camera', hidden: true }, video, h('div', { class: 'actions' }, snap, stop));
  const problem = h('p', { class: 'field-error', role: 'alert', hidden: true });
  let stream = null;
  const close = () => {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    area.hidden = true;
    open.hidden = false;
  };
  const open = h('button', { type: 'button', class: 'secondary' }, 'Use the camera');
  open.addEventListener('click', async () => {
    problem.hidden = true;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'user', width: { ideal: 1280 } }, audio: false });
      video.srcObject = stream;
      area.hidden = false;
      open.hidden = true;
      snap.focus();
    } catch {
      problem.textContent = 'The camera could not be opened. Allow camera access in the browser, or choose a photo file instead.';
      problem.hidden = false;
    }
  });
  snap.addEventListener('click', () => {
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext('2d').drawImage(video, 0, 0);
    canvas.toBlob((blob) => {
      if (blob) onPhoto(new File([blob], 'camera.jpg', { type: 'image/jpeg' }));
      close();
    }, 'image/jpeg', 0.92);
  });
  stop.addEventListener('click', close);
  window.addEventListener('popstate', close, { once: true });
  return h('div', {}, open, area, problem);
}

export async function addStudent(view) {
  const cls = currentClass();
  const paths = classPaths(cls);
  const name = field('Full name', { type: 'text', name: 'name', maxlength: 100, autocomplete: 'off', required: true });
  const roll = field('Roll number', { type: 'text', name: 'roll_no', maxlength: 32, autocomplete: 'off', required: true },
    'Unique for each of your students, for example 12.');
  const fileId = uid('photo');
  const file = h('input', { type: 'file', id: fileId, name: 'photo', accept: 'image/*', capture: 'user', 'aria-describedby': `${fileId}-hint ${fileId}-error` });
  const photoError = h('div', { id: `${fileId}-error`, role: 'alert' });
  const preview = h('img', { class: 'preview', alt: 'The chosen photo', hidden: true });
  const progress = h('progress', { max: 100, value: 0, hidden: true, 'aria-label': 'Upload progress' });
  const status = statusLine();
  const submit = h('button', { type: 'submit' }, 'Add the student');
  let photo = null;

  const choose = (chosen) => {
    photo = chosen;
    photoError.replaceChildren();
    if (preview.src) URL.revokeObjectURL(preview.src);
    if (photo) {
      preview.src = URL.createObjectURL(photo);
      preview.hidden = false;
    } else preview.hidden = true;
  };
  file.addEventListener('change', () => choose(file.files[0] || null));
  const cam = camera((taken) => { file.value = ''; choose(taken); });

  const form = h('form', { novalidate: true },
    name.wrap, roll.wrap,
    h('fieldset', {}, h('legend', {}, 'Photo of the student'),
      h('p', { class: 'hint', id: `${fileId}-hint` }, 'One face, looking straight at the camera, in good light, with nothing covering it.'),
      h('div', { class: 'actions' },
        h('label', { class: 'button secondary file-button', for: fileId }, 'Choose or take a photo', file), cam),
      preview, photoError),
    progress, h('div', { class: 'actions' }, submit), status);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    status.textContent = '';
    name.error(name.input.value.trim() ? '' : 'Enter the student\'s name.');
    roll.error(roll.input.value.trim() ? '' : 'Enter a roll number.');
    if (!photo) show(photoError, 'error-box', 'Choose or take a photo of the student.');
    if (!name.input.value.trim()) { name.input.focus(); return; }
    if (!roll.input.value.trim()) { roll.input.focus(); return; }
    if (!photo) return;
    const body = new FormData();
    body.append('data', JSON.stringify({ name: name.input.value.trim(), roll_no: roll.input.value.trim() }));
    body.append('image', photo, photo.name || 'photo.jpg');
    progress.hidden = false;
    progress.value = 0;
    await busy(submit, async () => {
      try {
        const answer = await upload(paths.enrol, body, (fraction) => {
          if (fraction === null) { progress.removeAttribute('value'); status.textContent = 'Checking the photo…'; } else progress.value = Math.round(fraction * 100);
        });
        const added = answer.student;
        progress.hidden = true;
        form.reset();
        choose(null);
        status.textContent = '';
        name.input.focus();
        show(photoError, 'success', `${added.name} (roll number ${added.roll_no}) was added. Add the next student, or `,
          h('a', { href: '/app/students' }, 'go back to the list'), '.');
        // The member counts of the class picker; nothing on this page waits for it.
        loadClasses().catch(() => {});
      } catch (error) {
        progress.hidden = true;
        status.textContent = '';
        refused(error);
      }
    });
  });

  function refused(error) {
    if (error instanceof ApiError && error.status === 422 && error.reasons.length) {
      show(photoError, 'error-box', h('p', {}, h('strong', {}, 'This photo cannot be used:')),
        h('ul', { class: 'reasons' }, error.reasons.map((r) => {
          const [what, todo] = REASONS[r.code] || [r.code, 'Take another photo.'];
          return h('li', { 'data-code': r.code }, h('strong', {}, what), ' ', todo);
        })),
        h('p', {}, 'Take a new photo and try again.'));
      file.focus();
    } else if (error instanceof ApiError && error.status === 409 && /roll number .* already exists/i.test(error.detail)) {
      roll.error(`${error.detail}. Choose another roll number.`);
      roll.input.focus();
    } else if (error instanceof ApiError && error.status === 409) {
      show(photoError, 'error-box', `${error.detail}. Each student is added once; to add them to this class, they are already on your list.`);
      file.focus();
    } else if (error instanceof ApiError && error.status === 400) {
      show(photoError, 'error-box', 'This file is not a photo Rollcall can read. Choose a JPEG or PNG photo.');
      file.focus();
    } else if (error instanceof ApiError && error.status === 422) {
      show(photoError, 'error-box', explain(error));
    } else {
      show(photoError, 'error-box', explain(error));
    }
  }

  view.append(
    h('h1', {}, 'Add a student'),
    h('p', { class: 'lead' }, `To ${cls.name}. `, h('a', { href: '/app/students' }, 'Back to the students')),
    form,
  );
  name.input.focus();
}
