//! bb8's statistics summed over a variant's pools, in the same terms for the pool models.

/// bb8's statistics summed over a variant's pools.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PoolStatistics {
    pub(crate) get_direct: u64,
    pub(crate) get_waited: u64,
    pub(crate) get_timed_out: u64,
    pub(crate) connections_created: u64,
    pub(crate) closed_broken: u64,
    pub(crate) closed_invalid: u64,
    pub(crate) closed_max_lifetime: u64,
    pub(crate) closed_idle_timeout: u64,
    /// Overflow connections closed when given back while `pool_size` were idle (SQLAlchemy's
    /// model; bb8 and the other models have none).
    pub(crate) closed_overflow: u64,
}

impl PoolStatistics {
    /// What happened after `start` (statistics only grow: they add up over pool generations).
    pub(crate) fn since(&self, start: &PoolStatistics) -> PoolStatistics {
        PoolStatistics {
            get_direct: self.get_direct.saturating_sub(start.get_direct),
            get_waited: self.get_waited.saturating_sub(start.get_waited),
            get_timed_out: self.get_timed_out.saturating_sub(start.get_timed_out),
            connections_created: self
                .connections_created
                .saturating_sub(start.connections_created),
            closed_broken: self.closed_broken.saturating_sub(start.closed_broken),
            closed_invalid: self.closed_invalid.saturating_sub(start.closed_invalid),
            closed_max_lifetime: self
                .closed_max_lifetime
                .saturating_sub(start.closed_max_lifetime),
            closed_idle_timeout: self
                .closed_idle_timeout
                .saturating_sub(start.closed_idle_timeout),
            closed_overflow: self.closed_overflow.saturating_sub(start.closed_overflow),
        }
    }

    pub(crate) fn add(&mut self, o: &PoolStatistics) {
        self.get_direct += o.get_direct;
        self.get_waited += o.get_waited;
        self.get_timed_out += o.get_timed_out;
        self.connections_created += o.connections_created;
        self.closed_broken += o.closed_broken;
        self.closed_invalid += o.closed_invalid;
        self.closed_max_lifetime += o.closed_max_lifetime;
        self.closed_idle_timeout += o.closed_idle_timeout;
        self.closed_overflow += o.closed_overflow;
    }
}

impl From<&bb8::Statistics> for PoolStatistics {
    fn from(st: &bb8::Statistics) -> PoolStatistics {
        PoolStatistics {
            get_direct: st.get_direct,
            get_waited: st.get_waited,
            get_timed_out: st.get_timed_out,
            connections_created: st.connections_created,
            closed_broken: st.connections_closed_broken,
            closed_invalid: st.connections_closed_invalid,
            closed_max_lifetime: st.connections_closed_max_lifetime,
            closed_idle_timeout: st.connections_closed_idle_timeout,
            closed_overflow: 0,
        }
    }
}
