// Take attendance: a class photo goes up (with progress), the faces come back with their
// verdicts, drawn over the teacher's own copy of the photo (the server never keeps it);
// suggestions are confirmed with one tap, absent students marked by hand, and another
// photo of the class adds to the same day.

import { api, upload, explain, classPaths } from '../api.js';
import { h, show, statusLine, longDate, byRollNo, uid } from '../ui.js';
import { currentClass } from '../app.js';

const VERDICT_TEXT = {
  marked: 'marked present',
  already: 'already present',
  suggestion: 'not sure',
  unknown: 'not recognised',
  other: 'not in this class',
};

/** The faces of one answer, each {kind, box, student?, similarity}. */
function facesOf(answer) {
  const faces = [];
  for (const s of answer.marked) faces.push({ kind: 'marked', box: s.box, student: s });
  for (const s of answer.already_present) faces.push({ kind: 'already', box: s.box, student: s });
  for (const s of answer.not_in_class || []) faces.push({ kind: 'other', box: s.box, student: s });
  for (const u of answer.unknown_faces) {
    faces.push(u.suggestion
      ? { kind: 'suggestion', box: u.box, student: u.suggestion }
      : { kind: 'unknown', box: u.box });
  }
  // Numbered left to right, top to bottom (roughly as the teacher reads the photo).
  faces.sort((a, b) => (Math.abs(a.box.y - b.box.y) > Math.max(a.box.h, b.box.h) ? a.box.y - b.box.y : a.box.x - b.box.x));
  faces.forEach((f, i) => { f.n = i + 1; });
  return faces;
}

/** The photo with a box and a numbered tag per face, in the photo's pixel coordinates. */
function overlay(img, faces, width, height) {
  const unit = Math.max(width, height);
  const stroke = Math.max(2, unit / 300);
  const font = Math.max(12, unit / 36);
  const svg = h('svg:svg', { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', 'aria-hidden': 'true', focusable: 'false' });
  const placed = [];
  const overlaps = (x, y, w) => placed.some((p) => x < p.x + p.w && p.x < x + w && y < p.y + font * 1.4 && p.y < y + font * 1.4);
  for (const f of faces) {
    const label = f.kind === 'marked' || f.kind === 'already' ? `${f.n} ${f.student.name}` : f.kind === 'suggestion' ? `${f.n} ${f.student.name}?` : `${f.n}`;
    const tagWidth = Math.min(width, font * 0.62 * label.length + font * 0.8);
    const tagX = Math.max(0, Math.min(f.box.x, width - tagWidth));
    // Above the box; below it when there is no room or another tag is there.
    const above = f.box.y - font * 1.4;
    const below = Math.min(f.box.y + f.box.h, height - font * 1.4);
    const tagY = above >= 0 && !overlaps(tagX, above, tagWidth) ? above : below;
    placed.push({ x: tagX, y: tagY, w: tagWidth });
    f.rect = h('svg:rect', { class: `box ${f.kind}`, x: f.box.x, y: f.box.y, width: f.box.w, height: f.box.h, 'stroke-width': stroke, rx: stroke });
    f.tag = h('svg:g', { class: `tag ${f.kind}` },
      h('svg:rect', { x: tagX, y: tagY, width: tagWidth, height: font * 1.4, rx: font * 0.2 }),
      h('svg:text', { x: tagX + font * 0.4, y: tagY + font * 1.05, 'font-size': font }, label));
  }
  // Every box first, then every tag: a tag is never hidden under a neighbour's box.
  svg.append(...faces.map((f) => f.rect), ...faces.map((f) => f.tag));
  return h('figure', { class: 'photo' }, img, svg);
}

/** Changes a face's verdict on the photo and in the list. */
function setKind(face, kind, text) {
  face.kind = kind;
  face.rect.setAttribute('class', `box ${kind}`);
  face.tag.setAttribute('class', `tag ${kind}`);
  const label = face.tag.querySelector('text');
  if (label) label.textContent = kind === 'unknown' ? `${face.n}` : `${face.n} ${face.student.name}`;
  face.item.className = kind;
  face.line.textContent = text;
}

/** Loads the teacher's own copy of the photo, for drawing. */
function loadImage(file) {
  return new Promise((resolve, reject) => {
    const img = h('img', { alt: 'The class photo, with a numbered box on each face found' });
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('This file is not a photo the browser can show.'));
    img.src = URL.createObjectURL(file);
  });
}

export async function takeAttendance(view) {
  const cls = currentClass();
  const paths = classPaths(cls);
  view.append(h('h1', {}, 'Take attendance'), h('p', { class: 'lead' }, cls.name));
  if (!cls.students) {
    view.append(h('div', { class: 'notice' },
      h('p', {}, h('strong', {}, `${cls.name} has no students yet.`)),
      h('p', {}, 'Rollcall recognises the students you added with a photo. Add them first, then come back with a photo of the class.'),
      h('p', {}, h('a', { class: 'button', href: '/app/students/add' }, 'Add a student'))));
    return;
  }

  const status = statusLine();
  const results = h('div', {});
  const day = h('section', { 'aria-labelledby': 'day-heading', hidden: true });
  const progressText = h('p', { id: 'progress-text' });
  const progress = h('progress', { max: 100, value: 0, 'aria-labelledby': 'progress-text' });
  const working = h('div', { class: 'notice', hidden: true }, progressText, progress);
  const problem = h('div', { role: 'alert', hidden: true });
  let photos = 0;
  let date = null;

  const picker = (label, secondary) => {
    const id = uid('class-photo');
    const input = h('input', { type: 'file', id, accept: 'image/*', capture: 'environment' });
    input.addEventListener('change', () => {
      const file = input.files[0];
      input.value = '';
      if (file) send(file);
    });
    return h('label', { class: `button file-button${secondary ? ' secondary' : ''}`, for: id }, label, input);
  };

  async function send(file) {
    problem.hidden = true;
    let img;
    try {
      img = await loadImage(file);
    } catch (error) {
      show(problem, 'error-box', error.message);
      return;
    }
    const body = new FormData();
    body.append('file', file, file.name || 'class.jpg');
    working.hidden = false;
    progress.value = 0;
    progressText.textContent = 'Sending the photo… 0 %';
    status.textContent = 'Sending the photo.';
    let answer;
    try {
      answer = await upload(paths.mark, body, (fraction) => {
        if (fraction === null) {
          progress.removeAttribute('value');
          progressText.textContent = 'Finding faces… this takes a few seconds.';
          status.textContent = 'Finding faces.';
        } else {
          progress.value = Math.round(fraction * 100);
          progressText.textContent = `Sending the photo… ${Math.round(fraction * 100)} %`;
        }
      });
    } catch (error) {
      working.hidden = true;
      const text = error.status === 400 && /no faces/i.test(error.detail)
        ? 'No face was found in this photo. Take it again with the students facing the camera, and close enough that faces are clearly visible.'
        : explain(error);
      show(problem, 'error-box', text);
      status.textContent = '';
      return;
    }
    working.hidden = true;
    photos += 1;
    date = answer.date;
    first.hidden = true;
    results.append(result(answer, img));
    status.textContent = `${answer.faces_detected} face${answer.faces_detected === 1 ? '' : 's'} found.`;
    await refreshDay();
    results.lastElementChild.querySelector('h2').focus();
  }

  function result(answer, img) {
    const faces = facesOf(answer);
    const figure = overlay(img, faces, img.naturalWidth, img.naturalHeight);
    const n = (kind) => faces.filter((f) => f.kind === kind).length;
    const counts = h('ul', { class: 'counts', 'aria-label': 'What this photo did' });
    const recount = () => counts.replaceChildren(...[
      h('li', {}, h('strong', {}, String(n('marked'))), ' marked present'),
      h('li', {}, h('strong', {}, String(n('already'))), ' already present'),
      h('li', {}, h('strong', {}, String(n('suggestion'))), ' to confirm'),
      h('li', {}, h('strong', {}, String(n('unknown'))), ' not recognised'),
      n('other') ? h('li', {}, h('strong', {}, String(n('other'))), ' not in this class') : null,
    ].filter(Boolean));
    recount();
    const headingId = uid('photo-heading');
    const list = h('ol', { class: 'faces', 'aria-label': `Faces in photo ${photos}` });
    for (const face of faces) {
      face.line = h('span', {}, lineText(face));
      face.item = h('li', { class: face.kind, 'data-kind': face.kind }, h('span', { class: 'num-tag' }, String(face.n)), face.line);
      if (face.kind === 'suggestion') {
        const yes = h('button', { type: 'button', class: 'small', 'aria-label': `Yes, face ${face.n} is ${face.student.name}: mark present` }, '✓ Yes');
        const no = h('button', { type: 'button', class: 'secondary small', 'aria-label': `No, face ${face.n} is not ${face.student.name}` }, '✗ No');
        yes.addEventListener('click', async () => {
          yes.disabled = true;
          no.disabled = true;
          try {
            await api('PUT', paths.correct(face.student.roll_no, answer.date));
            setKind(face, 'marked', `${face.student.name} — marked present (you confirmed)`);
            recount();
            yes.remove();
            no.remove();
            status.textContent = `${face.student.name} marked present.`;
            await refreshDay();
          } catch (error) {
            yes.disabled = false;
            no.disabled = false;
            status.textContent = explain(error);
          }
        });
        no.addEventListener('click', () => {
          setKind(face, 'unknown', `Not ${face.student.name} — not recognised`);
          recount();
          yes.remove();
          no.remove();
          status.textContent = 'Noted: not recognised.';
        });
        face.item.append(yes, no);
      }
      list.append(face.item);
    }
    return h('section', { 'aria-labelledby': headingId, class: 'result' },
      h('h2', { id: headingId, tabindex: '-1' }, `Photo ${photos}: ${answer.faces_detected} face${answer.faces_detected === 1 ? '' : 's'} found`),
      counts, figure, list);
  }

  function lineText(face) {
    switch (face.kind) {
      case 'marked': return `${face.student.name} — marked present`;
      case 'already': return `${face.student.name} — already present`;
      case 'suggestion': return `Is this ${face.student.name}?`;
      case 'other': return `${face.student.name} — ${VERDICT_TEXT.other}, not marked`;
      default: return 'Not recognised (not one of your students, or the face is too small or turned)';
    }
  }

  /** The day's attendance of the class, from the report (every photo and correction). */
  async function refreshDay() {
    const report = await api('GET', `${paths.report}?start_date=${date}&end_date=${date}`);
    const column = report.dates.indexOf(date);
    const rows = [...report.students].sort(byRollNo);
    const present = rows.filter((r) => column >= 0 && r.present[column]);
    const absent = rows.filter((r) => !(column >= 0 && r.present[column]));
    const absentList = h('ul', { class: 'people', 'aria-label': 'Absent students' }, absent.map((s) => {
      const mark = h('button', { type: 'button', class: 'secondary small', 'aria-label': `Mark present: ${s.name}` }, 'Mark present');
      mark.addEventListener('click', async () => {
        mark.disabled = true;
        try {
          await api('PUT', paths.correct(s.roll_no, date));
          status.textContent = `${s.name} marked present.`;
          await refreshDay();
          const next = day.querySelector('.people button');
          (next || day.querySelector('h2')).focus();
        } catch (error) {
          mark.disabled = false;
          status.textContent = explain(error);
        }
      });
      return h('li', {}, h('span', {}, `${s.name} `, h('span', { class: 'hint' }, `(roll ${s.roll_no})`)), mark);
    }));
    day.replaceChildren(
      h('h2', { id: 'day-heading', tabindex: '-1' }, `Today, ${longDate(date)}`),
      h('p', { class: 'day-counts' }, h('strong', {}, `${present.length} of ${rows.length} present`), `, ${absent.length} absent.`),
      h('h3', {}, `Absent (${absent.length})`),
      absent.length ? absentList : h('p', {}, 'Nobody is absent.'),
      h('div', { class: 'actions' }, picker('Add another photo of this class', true)),
      h('p', { class: 'hint' }, 'Faces at the back too small? Take another photo of those rows: it adds to the same day.'),
    );
    day.hidden = false;
  }

  const first = h('div', {},
    h('p', {}, 'Take one photo of the class with everyone facing the camera. Rollcall marks the students it recognises; you confirm the rest.'),
    h('div', { class: 'actions' }, picker('Choose or take the class photo', false)));
  view.append(first, results, working, problem, status, day);
}
