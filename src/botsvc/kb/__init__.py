"""The knowledge base: `kb/` files -> chunks (ingest) -> `kb_index/` (index) -> search and
grounded answers (retrieval), measured by evaluate."""

from botsvc.kb.evaluate import KbReport, evaluate_kb, format_kb_report, kb_report_as_dict
from botsvc.kb.index import BuildReport, build_index, index_is_current
from botsvc.kb.ingest import Chunk, load_chunks
from botsvc.kb.retrieval import KnowledgeBase

__all__ = [
    "BuildReport",
    "Chunk",
    "KbReport",
    "KnowledgeBase",
    "build_index",
    "evaluate_kb",
    "format_kb_report",
    "index_is_current",
    "kb_report_as_dict",
    "load_chunks",
]
