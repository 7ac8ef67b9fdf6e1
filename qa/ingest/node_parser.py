"""Heading-aware chunking as a llama-index `NodeParser`: documents → TextNodes, one per passage
that qa.ingest.chunking finds, with its heading path, kind and character span.

Only a build parses documents; answering reads passages back from the index without importing
llama-index (qa.index.passage).
"""
from __future__ import annotations

from typing import Any, Sequence

from llama_index.core.node_parser import NodeParser
from llama_index.core.schema import BaseNode, MetadataMode, NodeRelationship, TextNode

from qa.ingest.chunking import PATH_SEPARATOR, HeadingChunker


class HeadingNodeParser(NodeParser):
    """Splits planning documents along their Chinese heading hierarchy."""

    max_chars: int = 360
    min_chars: int = 40

    @classmethod
    def class_name(cls) -> str:
        return "HeadingNodeParser"

    def _parse_nodes(self, nodes: Sequence[BaseNode], show_progress: bool = False,
                     **kwargs: Any) -> list[BaseNode]:
        out: list[BaseNode] = []
        for document in nodes:
            out.extend(self.parse_document(document))
        return out

    def _postprocess_parsed_nodes(self, nodes, parent_doc_map):
        """The base class links source, previous and next; keep the links but not a copy of
        every neighbour's metadata in each node (it doubled the node store)."""
        nodes = super()._postprocess_parsed_nodes(nodes, parent_doc_map)
        for node in nodes:
            for related in node.relationships.values():
                if hasattr(related, "metadata"):
                    related.metadata = {}
        return nodes

    def parse_document(self, document: BaseNode) -> list[TextNode]:
        text = document.get_content(metadata_mode=MetadataMode.NONE)
        passages = HeadingChunker(self.max_chars, self.min_chars).passages(text)
        source = document.as_related_node_info()
        doc_id = document.metadata.get("doc", document.node_id)
        title = document.metadata.get("title")
        nodes = []
        for i, (path, kind, start, end, body) in enumerate(passages):
            if path and path[0] == title:
                path = path[1:]  # a Markdown "# 标题" line: the citation names the document already
            node = TextNode(
                id_=f"{doc_id}#{i}",
                text=body,
                start_char_idx=start,
                end_char_idx=end,
                metadata={"heading": PATH_SEPARATOR.join(path), "type": kind},
                metadata_template="{value}",
                relationships={NodeRelationship.SOURCE: source},
            )
            nodes.append(node)
        return nodes
