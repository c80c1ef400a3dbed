// The page: a client of wire protocol v1 over the server's WebSocket (/ws).
// Each protocol line is one text message. The person holds the secret and
// answers; the server guesses. What is still possible comes from search.js,
// computed as the server's smart guesser computes it.

import {
  CORRECT, COLDER, UNSURE, WARMER, Judge, Search, TOKENS, fraction, halfText, maxGuesses,
  parseInt64,
} from "./search.js";

const lang = new URLSearchParams(location.search).get("lang") === "en" ? "en" : "ko";

const STRINGS = {
  ko: {
    title: "숫자 맞히기",
    navPlay: "직접 하기",
    navWatch: "관전하기",
    playTitle: "서버가 맞힙니다",
    playIntro: "범위를 정하고 그 안의 숫자 하나를 떠올리세요. 서버가 추측하면, 바로 전에 대답한 추측보다 가까워졌는지(더따뜻함), 멀어졌는지(더차가움), 거리가 같거나 비교할 추측이 없는지(잘모르겠음), 맞았는지(맞음) 대답하세요. 대답 하나마다 남은 후보가 절반으로 줄어듭니다.",
    lower: "하한",
    upper: "상한",
    newGame: "새 게임",
    guessLabel: "서버의 추측",
    possibleLabel: "남은 후보",
    countLabel: "추측 횟수",
    midLabel: "이번 대답이 가르는 곳",
    answersLabel: "대답 (키보드: 1 2 3 4)",
    historyTitle: "지금까지의 추측",
    watchTitle: "두 추측기를 나란히",
    watchIntro: "비밀 숫자를 정하면 smart와 random 두 추측기가 같은 숫자를 각자의 WebSocket으로 맞힙니다. 대답은 페이지가 정직하게 합니다.",
    from: "범위 시작",
    to: "범위 끝",
    secret: "비밀 숫자",
    speed: "속도",
    slow: "느리게",
    normal: "보통",
    fast: "빠르게",
    watchStart: "관전 시작",
    smartAbout: "대답을 듣고 후보를 반씩 줄입니다.",
    randomAbout: "원래 예제의 추측기: 대답을 듣지 않고 아직 안 한 숫자 중에서 고릅니다.",
    footer: "Effective Python Item 61의 숫자 맞히기 게임. 같은 서버에 TCP로도 접속할 수 있습니다.",
    remaining: (n) => `(${n}개)`,
    bound: (k) => `/ smart는 많아야 ${k}번`,
    midpoint: (p, g, m) => `이전 추측 ${p}와 지금 추측 ${g}의 중점 ${m}: 비밀 숫자는 어느 쪽에 있나요?`,
    noMidpoint: "첫 추측에는 비교할 추측이 없습니다: 잘모르겠음 또는 맞음.",
    firstHint: "첫 대답은 잘모르겠음이나 맞음만 가능합니다.",
    result: (secret, count) => `비밀 숫자는 ${secret}, ${count}번 만에 맞혔습니다.`,
    possibleDesc: (lo, hi, l, u) => `${l}부터 ${u}까지 중 ${lo}부터 ${hi}까지가 아직 가능합니다.`,
    noneDesc: "가능한 숫자가 없습니다.",
    badRange: `하한과 상한은 부호 있는 64비트 정수이고, 하한이 상한보다 크지 않아야 합니다.`,
    badSecret: "비밀 숫자는 범위 안의 정수여야 합니다.",
    errors: {
      "no-candidates": "대답이 서로 맞지 않습니다: 지금까지의 대답을 모두 만족하는 숫자가 없습니다. 새 게임을 시작하세요.",
      "too-many-guesses": "한 게임에서 서버가 할 수 있는 추측 수를 다 썼습니다. 새 게임을 시작하세요.",
      busy: "서버가 바쁩니다. 잠시 뒤 다시 시도하세요.",
      closed: "서버와의 연결이 끊어졌습니다. 새 게임을 누르면 다시 연결합니다.",
      other: (code, msg) => `서버가 오류로 답했습니다 (${code}): ${msg}`,
    },
    won: (name, n) => `${name}: ${n}번 만에 맞힘`,
    summary: (s, r) => `smart ${s}번, random ${r}번.`,
  },
  en: {
    title: "Guess the number",
    navPlay: "Play",
    navWatch: "Watch",
    playTitle: "The server guesses",
    playIntro: "Choose a range and think of a number in it. The server guesses; answer whether the guess is closer to your number than the previous answered guess (Warmer), farther (Colder), the same distance or nothing to compare with (Unsure), or your number (Correct). Every answer halves what is still possible.",
    lower: "Lower",
    upper: "Upper",
    newGame: "New game",
    guessLabel: "Server's guess",
    possibleLabel: "Still possible",
    countLabel: "Guesses",
    midLabel: "This answer decides about",
    answersLabel: "Your answer (keys 1 2 3 4)",
    historyTitle: "Guesses so far",
    watchTitle: "Two guessers side by side",
    watchIntro: "Choose a secret: the smart and the random guesser play it, each over its own WebSocket. The page answers for you, honestly.",
    from: "From",
    to: "To",
    secret: "Secret",
    speed: "Speed",
    slow: "Slow",
    normal: "Normal",
    fast: "Fast",
    watchStart: "Watch",
    smartAbout: "Listens to the answers and halves what is possible.",
    randomAbout: "The original example's guesser: ignores the answers, picks any number not guessed yet.",
    footer: "The number-guessing game of Effective Python, Item 61. The same server speaks TCP too.",
    remaining: (n) => `(${n} ${n === "1" ? "number" : "numbers"})`,
    bound: (k) => `/ smart needs at most ${k}`,
    midpoint: (p, g, m) => `Midpoint of the previous guess ${p} and this guess ${g}: ${m}. Which side is your number on?`,
    noMidpoint: "The first guess has nothing to compare with: Unsure or Correct.",
    firstHint: "The first answer can only be Unsure or Correct.",
    result: (secret, count) => `The secret is ${secret}, found in ${count} ${count === 1 ? "guess" : "guesses"}.`,
    possibleDesc: (lo, hi, l, u) => `Of ${l} to ${u}, ${lo} to ${hi} are still possible.`,
    noneDesc: "No number is possible.",
    badRange: "Lower and Upper must be signed 64-bit integers, Lower not above Upper.",
    badSecret: "The secret must be an integer within the range.",
    errors: {
      "no-candidates": "Your answers contradict each other: no number fits them all. Start a new game.",
      "too-many-guesses": "The server made as many guesses as one game may hold. Start a new game.",
      busy: "The server is busy; try again in a moment.",
      closed: "The connection to the server was lost. New game connects again.",
      other: (code, msg) => `The server answered with an error (${code}): ${msg}`,
    },
    won: (name, n) => `${name}: found in ${n}`,
    summary: (s, r) => `smart ${s} guesses, random ${r}.`,
  },
};

const T = STRINGS[lang];
const WORDS = TOKENS[lang];
const KEYS = { 1: WARMER, 2: COLDER, 3: UNSURE, 4: CORRECT };
const SVG = "http://www.w3.org/2000/svg";

// -- the connection ---------------------------------------------------------

// One WebSocket speaking protocol lines: each message is one line. Every
// NUMBER sent is answered by exactly one line; after forget(), the answers
// still due to NUMBERs sent before (a game left for a new one) are dropped.
class LineSocket {
  constructor(query, onLine, onClose) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.url = `${scheme}//${location.host}/ws${query}`;
    this.onLine = onLine;
    this.onClose = onClose;
    this.ws = null;
    this.due = 0;     // NUMBERs sent and not answered yet
    this.stale = 0;   // of those, answers to drop
  }

  // Resolves once open (at once if it is); rejects if it cannot open.
  open() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) return Promise.resolve();
    this.close();  // one still connecting: not kept waiting for nothing
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      this.due = 0;
      this.stale = 0;
      let opened = false;
      ws.onopen = () => { opened = true; resolve(); };
      ws.onmessage = (event) => {
        if (this.ws !== ws) return;
        if (this.due > 0) this.due -= 1;
        if (this.stale > 0) { this.stale -= 1; return; }
        this.onLine(String(event.data));
      };
      ws.onclose = () => {
        if (this.ws !== ws) return;
        this.ws = null;
        if (opened) this.onClose(); else reject(new Error("closed"));
      };
    });
  }

  send(...lines) {
    for (const line of lines) {
      this.ws.send(line);
      if (line === "NUMBER") this.due += 1;
    }
  }

  forget() {
    this.stale = this.due;
  }

  close() {
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close();
      this.ws = null;
    }
  }
}

// The error's code and message in a reply line, or null for a number.
function parseError(line) {
  if (!line.startsWith("ERROR ")) return null;
  const [, code = "", ...rest] = line.split(" ");
  return { code, message: rest.join(" ") };
}

function errorText(code, message) {
  const known = T.errors[code];
  return typeof known === "string" ? known : T.errors.other(code, message);
}

// -- drawing ----------------------------------------------------------------

function el(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== null) node.textContent = text;
  return node;
}

function anchorAt(x) {
  return x < 120 ? "start" : x > 880 ? "end" : "middle";
}

// The number line of one game: the range, what is still possible, the
// guesses so far, the previous reported guess P, the current guess G and
// the midpoint between them that the next answer decides about.
function drawLine(svg, search, guess) {
  const desc = svg.querySelector("desc");
  svg.replaceChildren(desc);
  if (!search) return;
  const { lower, upper } = search;
  const left = 30;
  const width = 940;
  const x = (v) => left + width * fraction(v, lower, upper);
  const base = 78;
  svg.append(el("rect", { x: left, y: base - 5, width, height: 10, rx: 5, class: "range" }));
  const bounds = search.bounds();
  if (bounds) {
    const x0 = x(bounds.low);
    const x1 = x(bounds.high);
    svg.append(el("rect", {
      x: x0 - 3, y: base - 9, width: Math.max(6, x1 - x0 + 6), height: 18, rx: 4, class: "possible",
    }));
    svg.append(el("text", { x: x0, y: base + 34, "text-anchor": anchorAt(x0), class: "label possible-label" },
      bounds.low.toString()));
    if (bounds.high !== bounds.low) {
      svg.append(el("text", { x: x1, y: base + 52, "text-anchor": anchorAt(x1), class: "label possible-label" },
        bounds.high.toString()));
    }
    desc.textContent = T.possibleDesc(bounds.low, bounds.high, lower, upper);
  } else {
    desc.textContent = T.noneDesc;
  }
  for (const [g] of search.history) {
    svg.append(el("circle", { cx: x(g), cy: base, r: 4, class: "past" }));
  }
  // The range's ends, where the possible interval does not name them already.
  if (!bounds || bounds.low !== lower) {
    svg.append(el("text", { x: left, y: base + 70, "text-anchor": "start", class: "label end" }, lower.toString()));
  }
  if (!bounds || bounds.high !== upper) {
    svg.append(el("text", { x: left + width, y: base + 70, "text-anchor": "end", class: "label end" },
      upper.toString()));
  }
  const over = search.secret !== null;
  if (!over && search.prev !== null) {
    const xp = x(search.prev);
    svg.append(el("line", { x1: xp, y1: base - 30, x2: xp, y2: base + 12, class: "prev" }));
    svg.append(el("text", { x: xp, y: base - 34, "text-anchor": anchorAt(xp), class: "label prev-label" },
      `P ${search.prev}`));
  }
  if (guess !== null) {
    const xg = x(guess);
    svg.append(el("line", { x1: xg, y1: base - 48, x2: xg, y2: base + 12, class: "guess-mark" }));
    svg.append(el("text", { x: xg, y: base - 52, "text-anchor": anchorAt(xg), class: "label guess-label" },
      `G ${guess}`));
    if (!over && search.prev !== null) {
      const twice = search.prev + guess;
      const xm = left + width * ((fraction(search.prev, lower, upper) + fraction(guess, lower, upper)) / 2);
      svg.append(el("line", { x1: xm, y1: base - 16, x2: xm, y2: base + 20, class: "mid" }));
      svg.append(el("text", { x: xm, y: base - 22, "text-anchor": anchorAt(xm), class: "label mid-label" },
        halfText(twice)));
    }
  }
}

function historyItems(list, search) {
  list.replaceChildren(...search.history.map(([g, d]) => {
    const li = document.createElement("li");
    li.textContent = `${g} — ${WORDS[d]}`;
    li.className = d;
    return li;
  }));
}

function showAlert(slot, text) {
  slot.replaceChildren();
  const box = document.createElement("div");
  box.setAttribute("role", "alert");
  box.className = "alert";
  box.textContent = text;
  slot.append(box);
}

// -- playing: the person answers ------------------------------------------

const play = {
  socket: null,
  search: null,
  guess: null,
  count: 0,
  waiting: false,
  over: true,
};

const $ = (id) => document.getElementById(id);

function readRange(lowerInput, upperInput) {
  const lower = parseInt64(lowerInput.value);
  const upper = parseInt64(upperInput.value);
  return lower !== null && upper !== null && lower <= upper ? [lower, upper] : null;
}

async function newGame() {
  const slot = $("play-alert");
  slot.replaceChildren();
  $("result").textContent = "";
  const range = readRange($("lower"), $("upper"));
  if (range === null) {
    showAlert(slot, T.badRange);
    return;
  }
  play.search = new Search(range[0], range[1]);
  play.guess = null;
  play.count = 0;
  play.over = false;
  play.waiting = true;
  renderPlay();
  try {
    await play.socket.open();
  } catch {
    playFailed(T.errors.closed);
    return;
  }
  play.socket.forget();  // a guess still due to the game left behind
  play.socket.send(`PARAMS ${range[0]} ${range[1]}`, "NUMBER");
}

function playFailed(text) {
  play.over = true;
  play.waiting = false;
  showAlert($("play-alert"), text);
  renderPlay();
  $("new-game").focus();
}

function onPlayLine(line) {
  const error = parseError(line);
  if (error) {
    playFailed(errorText(error.code, error.message));
    return;
  }
  if (!play.waiting) return;
  play.waiting = false;
  play.guess = BigInt(line);
  play.count += 1;
  renderPlay();
  const first = document.querySelector(".answer:not([disabled])");
  if (first && !document.querySelector(".answer:focus")) first.focus();
}

function onPlayClose() {
  if (!play.over) playFailed(T.errors.closed);
}

function answer(decision) {
  if (play.over || play.waiting || play.guess === null) return;
  if (play.search.prev === null && (decision === WARMER || decision === COLDER)) return;
  play.search.observe(play.guess, decision);
  play.socket.send(`REPORT ${WORDS[decision]}`);
  if (decision === CORRECT) {
    play.over = true;
    $("result").textContent = T.result(play.guess, play.count);
    $("new-game").focus();
  } else {
    play.waiting = true;
    play.socket.send("NUMBER");
  }
  renderPlay();
}

function renderPlay() {
  const { search, guess } = play;
  $("guess").textContent = guess === null ? "" : guess.toString();
  $("count").textContent = String(play.count);
  const bounds = search ? search.bounds() : null;
  $("low").textContent = bounds ? bounds.low.toString() : "";
  $("high").textContent = bounds ? bounds.high.toString() : "";
  $("remaining").textContent = bounds ? T.remaining(search.count().toString()) : "";
  $("bound").textContent = search ? T.bound(maxGuesses(search.size)) : "";
  const mid = search && guess !== null && !play.over ? search.midpoint(guess) : null;
  $("midpoint").textContent = !search || play.over ? "" : mid === null
    ? T.noMidpoint : T.midpoint(search.prev, guess, mid);
  const canAnswer = search !== null && !play.over && !play.waiting && guess !== null;
  const first = search !== null && search.prev === null;
  for (const button of document.querySelectorAll(".answer")) {
    const d = button.dataset.decision;
    button.disabled = !canAnswer || (first && (d === WARMER || d === COLDER));
  }
  $("hint").textContent = canAnswer && first ? T.firstHint : "";
  drawLine($("play-line"), search, guess);
  if (search) historyItems($("history"), search); else $("history").replaceChildren();
}

// -- watching: smart and random play the same secret ------------------------

class Panel {
  constructor(root) {
    this.root = root;
    this.strategy = root.dataset.strategy;
    this.socket = new LineSocket(`?strategy=${this.strategy}`, (l) => this.onLine(l), () => this.onClose());
    this.timer = null;
    this.reset(null);
  }

  reset(range, secret = null) {
    clearTimeout(this.timer);
    this.timer = null;
    this.search = range ? new Search(range[0], range[1]) : null;
    this.judge = secret === null ? null : new Judge(secret);
    this.guess = null;
    this.count = 0;
    this.done = false;
    this.root.querySelector(".panel-alert").replaceChildren();
    this.render();
  }

  async start(range, secret, delay, finished) {
    this.delay = delay;
    this.finished = finished;
    this.reset(range, secret);
    try {
      await this.socket.open();
    } catch {
      this.fail(T.errors.closed);
      return;
    }
    this.socket.forget();
    this.socket.send(`PARAMS ${range[0]} ${range[1]}`, "NUMBER");
  }

  onLine(line) {
    // A line while a guess waits for its answer is none this panel asked for.
    if (this.done || !this.search || this.timer !== null) return;
    const error = parseError(line);
    if (error) {
      this.fail(errorText(error.code, error.message));
      return;
    }
    this.guess = BigInt(line);
    this.count += 1;
    this.render();
    // Show the guess, then answer it after the chosen delay.
    this.timer = setTimeout(() => this.answer(), this.delay);
  }

  answer() {
    this.timer = null;
    const decision = this.judge.judge(this.guess);
    this.search.observe(this.guess, decision);
    this.socket.send(`REPORT ${WORDS[decision]}`);
    if (decision === CORRECT) {
      this.done = true;
      this.root.querySelector(".result").textContent = T.result(this.guess, this.count);
      this.finished();
    } else {
      this.socket.send("NUMBER");
    }
    this.render();
  }

  fail(text) {
    this.done = true;
    clearTimeout(this.timer);
    this.timer = null;
    showAlert(this.root.querySelector(".panel-alert"), text);
    this.finished?.();
  }

  onClose() {
    if (!this.done && this.search) this.fail(T.errors.closed);
  }

  render() {
    const id = (name) => this.root.querySelector(`[data-testid="watch-${this.strategy}-${name}"]`);
    const bounds = this.search ? this.search.bounds() : null;
    id("guess").textContent = this.guess === null ? "" : this.guess.toString();
    id("low").textContent = bounds ? bounds.low.toString() : "";
    id("high").textContent = bounds ? bounds.high.toString() : "";
    id("count").textContent = String(this.count);
    if (!this.done) id("result").textContent = "";
    this.root.querySelector(".bound").textContent =
      this.search && this.strategy === "smart" ? T.bound(maxGuesses(this.search.size)) : "";
    drawLine(this.root.querySelector("svg"), this.search, this.guess);
    const list = this.root.querySelector(".history");
    if (this.search) historyItems(list, this.search); else list.replaceChildren();
  }
}

let panels = [];

async function startWatch() {
  const slot = $("watch-alert");
  slot.replaceChildren();
  const range = readRange($("watch-lower"), $("watch-upper"));
  if (range === null) {
    showAlert(slot, T.badRange);
    return;
  }
  const secret = parseInt64($("watch-secret").value);
  if (secret === null || secret < range[0] || secret > range[1]) {
    showAlert(slot, T.badSecret);
    return;
  }
  const delay = Number($("watch-speed").value);
  let left = panels.length;
  const finished = () => {
    left -= 1;
    if (left === 0) $("watch-start").focus();
  };
  await Promise.all(panels.map((p) => p.start(range, secret, delay, finished)));
}

// -- the page ---------------------------------------------------------------

function applyText() {
  document.documentElement.lang = lang;
  document.title = T.title;
  for (const node of document.querySelectorAll("[data-text]")) {
    node.textContent = T[node.dataset.text];
  }
  for (const button of document.querySelectorAll(".answer")) {
    const word = WORDS[button.dataset.decision];
    button.setAttribute("aria-label", word);
    button.querySelector(".word").textContent = word;
  }
  const other = lang === "en" ? "ko" : "en";
  const link = $("lang-switch");
  link.textContent = other === "en" ? "English" : "한국어";
  link.lang = other;
}

function showView() {
  const watching = location.hash === "#watch";
  $("play").hidden = watching;
  $("watch").hidden = !watching;
  $("nav-play").toggleAttribute("aria-current", !watching);
  $("nav-watch").toggleAttribute("aria-current", watching);
  const link = $("lang-switch");
  link.href = `?lang=${lang === "en" ? "ko" : "en"}${location.hash}`;
}

function onKey(event) {
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  const target = event.target;
  if (target instanceof HTMLInputElement || target instanceof HTMLSelectElement) return;
  if ($("play").hidden) return;
  const decision = KEYS[event.key];
  if (decision) {
    event.preventDefault();
    const button = document.querySelector(`.answer[data-decision="${decision}"]`);
    if (!button.disabled) {
      button.focus();
      answer(decision);
    }
  }
}

function main() {
  applyText();
  showView();
  window.addEventListener("hashchange", showView);
  play.socket = new LineSocket("", onPlayLine, onPlayClose);
  $("setup").addEventListener("submit", (event) => {
    event.preventDefault();
    newGame();
  });
  for (const button of document.querySelectorAll(".answer")) {
    button.addEventListener("click", () => answer(button.dataset.decision));
  }
  document.addEventListener("keydown", onKey);
  panels = [...document.querySelectorAll(".panel")].map((root) => new Panel(root));
  $("watch-setup").addEventListener("submit", (event) => {
    event.preventDefault();
    startWatch();
  });
  renderPlay();
  document.body.dataset.ready = "true";
}

main();
