//! Huffman coding (RFC 7541 §5.2, Appendix B).
