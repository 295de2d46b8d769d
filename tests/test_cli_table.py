"""The listing commands' plain tables: columns line up by terminal cells, a table wider than the page
folds its widest cells without losing a character, and nothing in a cell is read as markup."""

from __future__ import annotations

from rich.cells import cell_len

from polpo_nb.cli.table import render_table


def test_columns_line_up_by_terminal_cells_wide_characters_included():
    lines = render_table(["id", "title", "status"], [["t1", "世界", "done"], ["t2", "plain title", "failed"]], width=80)
    starts = [cell_len(line[:line.index(status)]) for line, status in zip(lines, ["status", "done", "failed"],
                                                                           strict=True)]
    assert len(set(starts)) == 1  # the third column starts at the same cell on every line
    assert lines[1].startswith("t1  世界")


def test_a_table_wider_than_the_page_folds_its_widest_cell_and_keeps_every_character():
    long = "an agent's long answer " * 8 + "with-an-unbreakable-word-longer-than-any-column-could-be-" * 2
    lines = render_table(["id", "result"], [["t1", long], ["t2", "ok"]], width=40)
    assert all(cell_len(line) <= 40 for line in lines)
    result_lines = [line[4:] for line in lines[1:-1]]  # t1's lines, the result column (after "t1  ")
    assert len(result_lines) > 1
    assert "".join(part.strip() for part in result_lines).replace(" ", "") == long.replace(" ", "")
    assert lines[-1] == "t2  ok"


def test_brackets_are_text():
    lines = render_table(["title"], [["- [x] done"], ["a [/] b"], ["[bold]no[/bold]"]], width=80)
    assert lines == ["title", "- [x] done", "a [/] b", "[bold]no[/bold]"]
