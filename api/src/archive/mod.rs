//! The Live Archive's own logic: what an archived message is indexed by (one parse of its
//! raw bytes), and the message a user writes in the web app (compose, reply, forward).

pub mod compose;
pub mod facts;
