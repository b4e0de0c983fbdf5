//! What a watched symbol keeps from its trade and candle streams: the last trades (a tape) and
//! the candle in progress.

use std::collections::VecDeque;

use super::{Candle, Trade};

/// Trades a tape keeps (SPEC 5.1).
pub const TAPE_LEN: usize = 1_000;

/// The last [`TAPE_LEN`] trades, oldest first, each once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TradeTape {
    trades: VecDeque<Trade>,
    /// Numeric id of the newest trade, when the venue's ids are numbers (Binance): a trade
    /// at or below it is a repeat (a resubscribe replays nothing, but be safe).
    last_id: Option<u64>,
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
        if id.is_some() {
            self.last_id = id;
        }
        if self.trades.len() == TAPE_LEN {
            self.trades.pop_front();
        }
        self.trades.push_back(trade);
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
        self.trades.iter().skip(skip).cloned().collect()
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
