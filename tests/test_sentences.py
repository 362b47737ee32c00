"""Sentence splitting of finished and streamed text, English and Chinese."""

from agent.sentences import SentenceSplitter, split_sentences, words_of


def test_english_sentences_keep_abbreviations_and_decimals() -> None:
    text = 'Hello there, Mr. Smith! It costs 3.14 dollars. Really?! "Yes." Ok'
    assert split_sentences(text) == [
        "Hello there, Mr. Smith!",
        "It costs 3.14 dollars.",
        "Really?!",
        '"Yes."',
        "Ok",
    ]


def test_chinese_sentences_split_on_fullwidth_marks() -> None:
    assert split_sentences("你好，我是小明。今天天气很好！你呢？好的……再见") == [
        "你好，我是小明。",
        "今天天气很好！",
        "你呢？",
        "好的……",
        "再见",
    ]


def test_mixed_language_and_newlines() -> None:
    assert split_sentences("第一行\nSecond line. 第三句。") == [
        "第一行",
        "Second line.",
        "第三句。",
    ]


def test_streamed_tokens_give_the_same_sentences_as_whole_text() -> None:
    text = "I think so. Dr. Who said 2.5 is fine! 好的。没问题？Then we go."
    splitter = SentenceSplitter()
    streamed: list[str] = []
    for i in range(0, len(text), 3):  # tokens cut at arbitrary places, even inside "2.5"
        streamed += splitter.push(text[i : i + 3])
    streamed += splitter.flush()
    assert streamed == split_sentences(text)
    assert streamed[0] == "I think so."
    assert "Dr. Who said 2.5 is fine!" in streamed


def test_sentence_is_emitted_as_soon_as_it_is_known_complete() -> None:
    splitter = SentenceSplitter()
    assert splitter.push("Hi there") == []
    assert splitter.push(".") == []  # "." may still be followed by "5" or "!"
    assert splitter.push(" And") == ["Hi there."]
    assert splitter.push("好的。") == ["And好的。"]  # a full-width mark ends it at once
    assert splitter.push("Bye") == []
    assert splitter.flush() == ["Bye"]


def test_first_clause_may_be_cut_early() -> None:
    splitter = SentenceSplitter(first_clause_chars=20)
    out: list[str] = []
    text = (
        "Well, that is a really interesting question, and the answer is yes. Next, 1,000 more, ok."
    )
    for word in text.split(" "):
        out += splitter.push(word + " ")
    out += splitter.flush()
    assert out == [
        "Well, that is a really interesting question,",
        "and the answer is yes.",
        "Next, 1,000 more, ok.",
    ]


def test_long_sentences_are_bounded() -> None:
    chinese = split_sentences("这是一个非常长的句子" * 30, max_chars=50)
    assert all(len(s) <= 50 for s in chinese) and "".join(chinese) == "这是一个非常长的句子" * 30
    english = split_sentences("word, " * 60, max_chars=50)
    assert all(len(s) <= 50 for s in english) and len(english) >= 7


def test_punctuation_only_pieces_are_not_sentences() -> None:
    assert split_sentences("... !!! 。。") == []
    assert split_sentences("OK. ...") == ["OK."]


def test_words_of() -> None:
    assert words_of("Hello, world! 你好世界") == ["Hello,", "world!", "你", "好", "世", "界"]


def test_first_clause_before_the_first_sentence_end() -> None:
    splitter = SentenceSplitter(first_clause_chars=2)
    assert splitter.push("你好，我是你的助手。今天，好的。") == [
        "你好，",
        "我是你的助手。",
        "今天，好的。",
    ]
    splitter = SentenceSplitter(first_clause_chars=10)
    assert splitter.push("Hi, you. And then, more. ") == ["Hi, you.", "And then, more."]


def test_language_of() -> None:
    from agent.sentences import language_of

    assert language_of("Hello there!") == "en"
    assert language_of("你好，我是小明。") == "zh"
    assert language_of("我爱 Python 编程") == "zh"  # 4 Han of 10 letters
    assert language_of("I visited 北京 last year") == "en"
    assert language_of("123 ...") == "en"
