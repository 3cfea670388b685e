//! socket.io 0.9 (protocol 1) packets — placeholder being written; see the sio09 issue.
