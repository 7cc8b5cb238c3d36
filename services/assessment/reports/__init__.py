"""Results that are used (考核结果运用): exports, 述职评议 sheets, charts."""
