//! What a watched symbol keeps from its trade and candle streams: the last trades (a tape) and
//! the candle in progress.

use std::collections::VecDeque;

use super::{Candle, Trade, TradeSide};

/// Trades a tape keeps (SPEC 5.1).
pub const TAPE_LEN: usize = 1_000;
/// How many of the newest trades a trade whose id is not a number is compared with.
const REPEATS_WITHIN: usize = 256;

/// A trade's id as a tape holds it: most venues number their trades, and a number kept as
/// one costs no allocation (a tape of 1,000 trades a watched symbol, 500 symbols: a held trade
/// is 56 bytes, where a [`Trade`] with its id's `String` is 64 plus the string's allocation).
#[derive(Debug, Clone, PartialEq, Eq)]
enum HeldId {
    None,
    /// An id that is the canonical text of a number (no sign, no leading zero): printed back
    /// exactly as it came.
    Number(u64),
    Text(Box<str>),
}

impl HeldId {
    fn new(id: Option<String>) -> Self {
        match id {
            None => Self::None,
            Some(id) => match canonical_number(&id) {
                Some(n) => Self::Number(n),
                None => Self::Text(id.into_boxed_str()),
            },
        }
    }

    fn is(&self, raw: &str) -> bool {
        match self {
            Self::None => false,
            Self::Number(n) => canonical_number(raw) == Some(*n),
            Self::Text(text) => **text == *raw,
        }
    }

    fn to_id(&self) -> Option<String> {
        match self {
            Self::None => None,
            Self::Number(n) => Some(n.to_string()),
            Self::Text(text) => Some(text.to_string()),
        }
    }
}

/// `raw` as a number when printing the number gives `raw` back.
fn canonical_number(raw: &str) -> Option<u64> {
    let digits = raw.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = raw.len() > 1 && raw.starts_with('0');
    if !digits || leading_zero {
        return None;
    }
    raw.parse().ok()
}

/// One trade as the tape keeps it.
#[derive(Debug, Clone, PartialEq)]
struct HeldTrade {
    id: HeldId,
    /// Unix ms; `i64::MIN` when the venue gave none.
    timestamp: i64,
    price: f64,
    amount: f64,
    side: Option<TradeSide>,
}

impl HeldTrade {
    fn new(trade: Trade) -> Self {
        Self {
            id: HeldId::new(trade.id),
            timestamp: trade.timestamp.unwrap_or(i64::MIN),
            price: trade.price,
            amount: trade.amount,
            side: trade.side,
        }
    }

    fn to_trade(&self) -> Trade {
        Trade {
            id: self.id.to_id(),
            timestamp: (self.timestamp != i64::MIN).then_some(self.timestamp),
            side: self.side,
            price: self.price,
            amount: self.amount,
        }
    }
}

/// The last [`TAPE_LEN`] trades, oldest first, each once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TradeTape {
    trades: VecDeque<HeldTrade>,
    /// Numeric id of the newest trade, when the venue's ids are numbers (Binance): a trade
    /// at or below it is a repeat (a resubscribe replays nothing, but be safe).
    last_id: Option<u64>,
    /// Trades ever pushed (repeats not counted): the newest held is at this position, the
    /// oldest at `pushed - len + 1`. Followers track the tape by position, which works for
    /// any venue's ids (Bybit's are UUIDs, which have no order).
    pushed: u64,
}

impl TradeTape {
    /// Adds a trade unless it is one already held (by numeric id); drops the oldest past
    /// [`TAPE_LEN`].
    pub fn push(&mut self, trade: Trade) {
        let id = trade.id.as_deref().and_then(|id| id.parse::<u64>().ok());
        if let (Some(id), Some(last)) = (id, self.last_id) {
            if id <= last {
                return;
            }
        }
        // Ids that are not numbers (Bybit's UUIDs) say nothing of order: a repeat is found by
        // looking among the newest held. Repeats come where the REST trades a tape starts from
        // meet the streamed ones, so the newest few hundred are enough to look at.
        if let (None, Some(raw)) = (id, trade.id.as_deref()) {
            let mut newest = self.trades.iter().rev().take(REPEATS_WITHIN);
            if newest.any(|held| held.id.is(raw)) {
                return;
            }
        }
        if id.is_some() {
            self.last_id = id;
        }
        if self.trades.len() == TAPE_LEN {
            self.trades.pop_front();
        }
        if self.trades.capacity() == 0 {
            // Exactly a tape's worth, once (growing by doubling would end at 1,024).
            self.trades.reserve_exact(TAPE_LEN);
        }
        self.trades.push_back(HeldTrade::new(trade));
        self.pushed += 1;
    }

    /// The position of the newest trade (0 before the first).
    pub fn position(&self) -> u64 {
        self.pushed
    }

    /// Carries a previous tape's count on, so that positions never go back when a tape is
    /// rebuilt (seeded from REST).
    pub fn continue_from(&mut self, previous: &TradeTape) {
        self.pushed = self.pushed.max(previous.pushed);
    }

    /// The trades after position `after` (oldest first; at most the whole tape when `after`
    /// is older than what is held) and the position of the newest.
    pub fn since(&self, after: u64) -> (Vec<Trade>, u64) {
        let new = usize::try_from(self.pushed.saturating_sub(after)).unwrap_or(usize::MAX);
        (self.last(new), self.pushed)
    }

    pub fn len(&self) -> usize {
        self.trades.len()
    }

    pub fn is_empty(&self) -> bool {
        self.trades.is_empty()
    }

    /// The newest `n`, oldest first (as `get_trades` answers).
    pub fn last(&self, n: usize) -> Vec<Trade> {
        let skip = self.trades.len().saturating_sub(n);
        self.trades
            .iter()
            .skip(skip)
            .map(HeldTrade::to_trade)
            .collect()
    }
}

/// The interval Binance, OKX, Bybit and Kraken stream (`kline_1m`, `candle1m`, `kline.1`, `ohlc`
/// interval 1): what their candles of every timeframe are combined from.
pub const ONE_MINUTE_MS: i64 = 60_000;

/// The candle in progress of one interval, from the kline stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveCandle {
    pub candle: Candle,
    /// The venue said it closed (Binance `x: true`).
    pub closed: bool,
    /// The length of the streamed interval (1 minute; 5 on Coinbase).
    pub interval_ms: i64,
}

impl LiveCandle {
    /// `candles` (oldest first, from REST) ending with this candle: it replaces the one with
    /// its open time, or comes after the last when newer; an older live candle changes nothing.
    pub fn merge_into(&self, candles: &mut Vec<Candle>) {
        match candles.last_mut() {
            Some(last) if last.timestamp == self.candle.timestamp => *last = self.candle,
            Some(last) if last.timestamp > self.candle.timestamp => {}
            _ => candles.push(self.candle),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trade(id: u64) -> Trade {
        Trade {
            id: Some(id.to_string()),
            timestamp: Some(id as i64),
            side: None,
            price: 1.0,
            amount: 1.0,
        }
    }

    #[test]
    fn ids_come_back_as_they_came() {
        let mut tape = TradeTape::default();
        let ids = [
            Some("7"),
            Some("007"),
            Some("+8"),
            Some("0"),
            None,
            Some("a-9"),
            Some("18446744073709551616"),
        ];
        for (n, id) in ids.iter().enumerate() {
            tape.push(Trade {
                id: id.map(str::to_owned),
                timestamp: (n % 2 == 0).then_some(n as i64),
                ..trade(0)
            });
        }
        let held: Vec<_> = tape
            .last(10)
            .into_iter()
            .map(|t| (t.id, t.timestamp))
            .collect();
        // "007" and "0" are not after "7": numeric ids at or below the newest are repeats.
        let expected = [
            (Some("7"), Some(0)),
            (Some("+8"), Some(2)),
            (None, Some(4)),
            (Some("a-9"), None),
            (Some("18446744073709551616"), Some(6)),
        ];
        let expected: Vec<_> = expected
            .iter()
            .map(|(id, ts)| (id.map(str::to_owned), *ts))
            .collect();
        assert_eq!(held, expected);
        assert_eq!(std::mem::size_of::<HeldTrade>(), 56);
    }

    #[test]
    fn keeps_the_last_thousand_in_order_once() {
        let mut tape = TradeTape::default();
        for id in 1..=1_500 {
            tape.push(trade(id));
        }
        tape.push(trade(1_200)); // a repeat
        assert_eq!(tape.len(), TAPE_LEN);
        let last = tape.last(3);
        let ids: Vec<_> = last.iter().map(|t| t.id.clone().unwrap()).collect();
        assert_eq!(ids, ["1498", "1499", "1500"]);
        assert_eq!(tape.last(5_000).len(), TAPE_LEN);
        assert_eq!(tape.last(5_000)[0].id.as_deref(), Some("501"));
    }

    fn uuid_trade(n: u64) -> Trade {
        Trade {
            id: Some(format!(
                "{:08x}-5a1c-4b7e-9c3d-{n:012x}",
                n.wrapping_mul(2_654_435_761)
            )),
            ..trade(n)
        }
    }

    #[test]
    fn followers_track_the_tape_by_position_whatever_the_ids() {
        let mut tape = TradeTape::default();
        assert_eq!(tape.since(0), (vec![], 0));
        for n in 1..=3 {
            tape.push(uuid_trade(n));
        }
        let (new, at) = tape.since(0);
        assert_eq!((new.len(), at), (3, 3));
        // UUIDs do not parse as numbers, and do not sort: only the position says what is new.
        tape.push(uuid_trade(4));
        tape.push(uuid_trade(5));
        let (new, at) = tape.since(3);
        assert_eq!(at, 5);
        assert_eq!(new, vec![uuid_trade(4), uuid_trade(5)]);
        assert!(tape.since(5).0.is_empty());
        // A follower further behind than the tape holds gets what is held.
        for n in 6..=1_205 {
            tape.push(uuid_trade(n));
        }
        let (new, at) = tape.since(5);
        assert_eq!((new.len(), at), (TAPE_LEN, 1_205));
        assert_eq!(new[0], uuid_trade(206));
        // A repeat (the REST trades a tape starts from meeting the streamed ones) is held once
        // and not counted.
        tape.push(uuid_trade(1_200));
        assert_eq!(tape.since(1_205), (vec![], 1_205));
        // A rebuilt tape keeps counting from where the old one was.
        let mut rebuilt = TradeTape::default();
        rebuilt.push(uuid_trade(1_206));
        rebuilt.continue_from(&tape);
        assert_eq!(rebuilt.position(), 1_205);
    }

    #[test]
    fn live_candle_ends_the_series() {
        let c = |t: i64, close: f64| Candle {
            timestamp: t,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close,
            volume: 3.0,
        };
        let mut candles = vec![c(0, 1.0), c(60, 1.1)];
        LiveCandle {
            candle: c(60, 1.5),
            closed: false,
            interval_ms: 60,
        }
        .merge_into(&mut candles);
        assert_eq!(candles.len(), 2);
        assert_eq!(candles[1].close, 1.5);
        LiveCandle {
            candle: c(120, 1.7),
            closed: false,
            interval_ms: 60,
        }
        .merge_into(&mut candles);
        assert_eq!(candles.len(), 3);
        LiveCandle {
            candle: c(0, 9.0),
            closed: true,
            interval_ms: 60,
        }
        .merge_into(&mut candles);
        assert_eq!(candles[0].close, 1.0);
    }
}
