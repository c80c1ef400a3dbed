// What the reports say about the secret: the page's model of the search.
//
// It computes what is still possible exactly as the server's judge and its
// smart guesser do (guessgame/strategies/smart.py, SmartStrategy.observe and
// check_candidates): a report on guess G compares G with the previously
// *reported* guess P, so it says on which side of the midpoint (P + G) / 2
// the secret lies (WARMER: G's side, COLDER: P's side, UNSURE: exactly on
// it, which no integer is when the midpoint is a half-integer). The first
// report has nothing to compare with and says nothing. A guess reported and
// not CORRECT is not the secret. Integers are BigInt, exact over the whole
// signed 64-bit range of the protocol. No DOM here: tests drive it directly.

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

export const WARMER = "warmer";
export const COLDER = "colder";
export const UNSURE = "unsure";
export const CORRECT = "correct";
export const DECISIONS = [WARMER, COLDER, UNSURE, CORRECT];

// The protocol's words for each decision, as the server reads them.
export const TOKENS = {
  ko: { warmer: "더따뜻함", colder: "더차가움", unsure: "잘모르겠음", correct: "맞음" },
  en: { warmer: "Warmer", colder: "Colder", unsure: "Unsure", correct: "Correct" },
};

// One game's knowledge: the range, the interval [a, b] the reports leave,
// the reported guesses, the previous reported guess, and the secret once
// found.
export class Search {
  constructor(lower, upper) {
    this.lower = BigInt(lower);
    this.upper = BigInt(upper);
    this.a = this.lower;
    this.b = this.upper;
    this.prev = null;
    this.guessed = new Set();
    this.history = []; // [guess, decision] in order
    this.secret = null;
  }

  get size() {
    return this.upper - this.lower + 1n;
  }

  // The report `decision` on `guess`, the latest guess.
  observe(guess, decision) {
    guess = BigInt(guess);
    this.history.push([guess, decision]);
    if (this.secret !== null) return;
    if (decision === CORRECT) {
      this.secret = guess;
      return;
    }
    this.guessed.add(guess);
    const prev = this.prev;
    this.prev = guess;
    if (prev === null) return;
    const twice = prev + guess;
    const below = floorDiv(twice - 1n, 2n); // largest integer strictly below the midpoint
    const above = floorDiv(twice, 2n) + 1n; // smallest integer strictly above it
    if (decision === UNSURE) {
      if (twice % 2n !== 0n) {
        this.a = 1n;
        this.b = 0n; // nothing lies on a half-integer
      } else {
        this.a = max(this.a, twice / 2n);
        this.b = min(this.b, twice / 2n);
      }
    } else if ((decision === WARMER) === guess > prev) {
      this.a = max(this.a, above);
    } else {
      this.b = min(this.b, below);
    }
  }

  // The least and greatest number still possible, or null when none is
  // (the reports contradict each other). After CORRECT both are the secret.
  bounds() {
    if (this.secret !== null) return { low: this.secret, high: this.secret };
    let a = this.a;
    let b = this.b;
    while (a <= b && this.guessed.has(a)) a += 1n;
    while (a <= b && this.guessed.has(b)) b -= 1n;
    return a <= b ? { low: a, high: b } : null;
  }

  // How many numbers are still possible (0n when none).
  count() {
    const bounds = this.bounds();
    if (bounds === null) return 0n;
    let n = bounds.high - bounds.low + 1n;
    for (const g of this.guessed) if (bounds.low < g && g < bounds.high) n -= 1n;
    return n;
  }

  // The midpoint the answer on `guess` decides about, as text (x or x.5),
  // or null when there is no previous reported guess.
  midpoint(guess) {
    if (this.prev === null || guess === null) return null;
    return halfText(this.prev + BigInt(guess));
  }
}

// The IOI 2010 bound the smart guesser keeps: floor(log2 3N) + 1 guesses
// for a range of N numbers (the winning one included).
export function maxGuesses(n) {
  n = BigInt(n);
  return n < 1n ? 0 : (3n * n).toString(2).length; // bit length = floor(log2 x) + 1
}

// The client's judge (guessgame/judge.py): the decision on `guess` for a
// secret, relative to the previously judged guess.
export class Judge {
  constructor(secret) {
    this.secret = BigInt(secret);
    this.last = null;
  }

  judge(guess) {
    const distance = abs(BigInt(guess) - this.secret);
    const last = this.last;
    this.last = distance;
    if (distance === 0n) return CORRECT;
    if (last === null || distance === last) return UNSURE;
    return distance < last ? WARMER : COLDER;
  }
}

// A decimal integer within signed 64-bit, or null.
export function parseInt64(text) {
  const t = String(text).trim();
  if (!/^[+-]?\d{1,19}$/.test(t)) return null;
  const value = BigInt(t);
  return value >= INT64_MIN && value <= INT64_MAX ? value : null;
}

// Where x lies between lower and upper, 0..1 (for drawing).
export function fraction(x, lower, upper) {
  if (upper === lower) return 0.5;
  const scale = 1000000n;
  return Number(((BigInt(x) - lower) * scale) / (upper - lower)) / Number(scale);
}

export function halfText(twice) {
  if (twice % 2n === 0n) return (twice / 2n).toString();
  const sign = twice < 0n ? "-" : "";
  return `${sign}${abs(twice) / 2n}.5`;
}

function floorDiv(x, y) {
  const q = x / y;
  return (x % y !== 0n) && ((x < 0n) !== (y < 0n)) ? q - 1n : q;
}

function max(x, y) {
  return x > y ? x : y;
}

function min(x, y) {
  return x < y ? x : y;
}

function abs(x) {
  return x < 0n ? -x : x;
}
