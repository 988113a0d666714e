#!/usr/bin/env python3
"""Render protocol-v1 sample calls into each vendor's transcript shape (tests/vendors/<format>/).

    python3 tests/vendors/render.py            # rewrites every fixture

Input: the labelled calls named in CALLS (finals only). From each, one live protocol-v1 stream is
built first (tests/vendors/v1/<call>.jsonl): partial revisions about 0.4 s after an utterance
starts and then every second, each with the words heard so far, all revisions ordered by the
media time they would be sent at. Every vendor fixture is that same stream in the vendor's shape,
following /work/shared/VENDORS.md: its units, its partial model, its ids, its roles, its start
and end events. tests/adapters.rs checks that each fixture gives the nudges of the v1 stream.

One line per message: a JSON body (or WebSocket frame), or for Twilio a form-encoded body.
Deterministic: ids are derived from the call and segment, times from the media clock.
"""

import base64
import datetime as dt
import hashlib
import json
import math
import os
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
CALLS_DIR = os.path.join(HERE, "..", "calls")
CALLS = ["03_es_angry_third_call_no_internet", "05_ar_voseo_insults_firm_limit"]
BASE = dt.datetime(2026, 11, 23, 10, 0, 0, tzinfo=dt.timezone.utc)
FIRST_PARTIAL_MS = 400
PARTIAL_EVERY_MS = 1000


def uid(*parts):
    h = hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def iso(ms):
    t = BASE + dt.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def secs(ms):
    return round(ms / 1000.0, 3)


def load(name):
    msgs = [json.loads(l) for l in open(os.path.join(CALLS_DIR, name + ".jsonl")) if l.strip()]
    start = next(m for m in msgs if m["type"] == "call.start")
    segs = [m for m in msgs if m["type"] == "segment"]
    return start, segs


def revisions(segs):
    """Every revision of every utterance: partials (growing word by word) then the final."""
    revs = []
    for n, s in enumerate(segs):
        words = s["text"].split()
        a, b = s["start_ms"], s["end_ms"]
        shown = 0
        t = a + FIRST_PARTIAL_MS
        k = 0
        while t < b - 300:
            count = max(1, math.ceil(len(words) * (t - a) / (b - a)))
            if shown < count < len(words):
                revs.append(dict(seg=n, k=k, speaker=s["speaker"], words=words[:count],
                                 new=words[shown:count], start=a, end=t, final=False))
                shown = count
                k += 1
            t += PARTIAL_EVERY_MS
        revs.append(dict(seg=n, k=k, speaker=s["speaker"], words=words, new=words[shown:],
                         start=a, end=b, final=True))
    # Sent when heard: order by the revision's end, finals after partials of the same instant.
    revs.sort(key=lambda r: (r["end"], r["final"], r["seg"]))
    for r in revs:
        r["text"] = " ".join(r["words"])
    return revs


def write(fmt, name, lines):
    d = os.path.join(HERE, fmt)
    os.makedirs(d, exist_ok=True)
    ext = "form" if fmt == "twilio" else "jsonl"
    with open(os.path.join(d, f"{name}.{ext}"), "w") as f:
        for l in lines:
            f.write((l if isinstance(l, str) else json.dumps(l, ensure_ascii=False)) + "\n")


def v1(start, revs):
    out = [start]
    for r in revs:
        out.append({"type": "segment", "call_id": start["call_id"], "segment_id": f"s-{r['seg'] + 1}",
                    "speaker": r["speaker"], "text": r["text"], "start_ms": r["start"],
                    "end_ms": r["end"], "final": r["final"]})
    out.append({"type": "call.end", "call_id": start["call_id"]})
    return out


def items(r):
    """Transcribe word items spread over the revision."""
    n = len(r["words"])
    step = (r["end"] - r["start"]) / max(n, 1)
    out = []
    for i, w in enumerate(r["words"]):
        it = {"StartTime": secs(r["start"] + i * step), "EndTime": secs(r["start"] + (i + 1) * step),
              "Type": "pronunciation", "Content": w, "Confidence": 0.93, "VocabularyFilterMatch": False}
        if not r["final"]:
            it["Stable"] = i < n - 2
        out.append(it)
    return out


def transcribe_result(call, r):
    ch = "ch_0" if r["speaker"] == "customer" else "ch_1"
    # Partial and final ids differ on some utterances, as the Transcribe docs' own example shows.
    rid = uid(call, r["seg"], "final" if r["final"] and r["seg"] % 3 == 0 else "")
    return {"ResultId": rid, "StartTime": secs(r["start"]), "EndTime": secs(r["end"]),
            "IsPartial": not r["final"], "ChannelId": ch, "LanguageCode": "es-ES",
            "Alternatives": [{"Transcript": r["text"], "Items": items(r)}]}


def aws_transcribe(start, revs):
    call = start["call_id"]
    return [{"Transcript": {"Results": [transcribe_result(call, r)]}} for r in revs]


def aws_lca(start, revs):
    call = uid(start["call_id"], "lca")
    recs = [{"EventType": "START", "CallId": call, "CustomerPhoneNumber": "+34600112233",
             "SystemPhoneNumber": "+34910000000", "AgentId": start["agent_id"], "CreatedAt": iso(0)}]
    for r in revs:
        ch = "ch_0" if r["speaker"] == "customer" else "ch_1"
        if r["seg"] % 7 == 6:
            # A producer forwarding the raw Transcribe event instead of flat fields.
            recs.append({"EventType": "ADD_TRANSCRIPT_SEGMENT", "CallId": call,
                         "TranscriptEvent": {"Transcript": {"Results": [transcribe_result(call, r)]}},
                         "CreatedAt": iso(r["end"] + 250)})
            continue
        as_text = r["seg"] % 4 == 3  # times as strings, as TranscriptLambdaHookFunction.md shows
        t = (lambda ms: f"{secs(ms)}") if as_text else secs
        recs.append({"EventType": "ADD_TRANSCRIPT_SEGMENT", "CallId": call,
                     "Channel": "CALLER" if r["speaker"] == "customer" else "AGENT",
                     "SegmentId": f"{ch}-{secs(r['start'])}", "StartTime": t(r["start"]),
                     "EndTime": t(r["end"]), "Transcript": r["text"], "IsPartial": not r["final"],
                     "CreatedAt": iso(r["end"] + 250), "UpdatedAt": iso(r["end"] + 250)})
    recs.append({"EventType": "END", "CallId": call, "CreatedAt": iso(revs[-1]["end"] + 1500)})
    # The Kinesis consumer forwards what each GetRecords call returned: 1 to 3 records.
    out, i = [], 0
    while i < len(recs):
        n = 1 + (i % 3)
        out.append(recs[i] if n == 1 else recs[i:i + n])
        i += n
    return out


def contact_lens(start, revs):
    contact = uid(start["call_id"], "connect")
    head = {"Version": "1.0.0", "Channel": "VOICE", "AccountId": "111122223333",
            "InstanceId": "9f1c0a52-7d44-4b8e-a0c1-5d3e2f6b7a10", "ContactId": contact,
            "LanguageCode": "es-ES"}
    out = [dict(head, EventType="STARTED")]
    for r in revs:
        role = "CUSTOMER" if r["speaker"] == "customer" else "AGENT"
        tid = uid(contact, r["seg"], "transcript")
        if r["final"]:
            seg = {"Transcript": {"Id": tid, "ParticipantId": role, "ParticipantRole": role,
                                  "Content": r["text"], "BeginOffsetMillis": r["start"],
                                  "EndOffsetMillis": r["end"],
                                  "Sentiment": "NEGATIVE" if role == "CUSTOMER" and r["seg"] % 2 else "NEUTRAL"}}
        else:
            begin = r["start"] if r["k"] == 0 else prev_end[r["seg"]]
            seg = {"Utterance": {"Id": uid(contact, r["seg"], r["k"]), "TranscriptId": tid,
                                 "ParticipantId": role, "ParticipantRole": role,
                                 "PartialContent": " ".join(r["new"]), "BeginOffsetMillis": begin,
                                 "EndOffsetMillis": r["end"]}}
        prev_end[r["seg"]] = r["end"]
        out.append(dict(head, EventType="SEGMENTS", Segments=[seg]))
    out.append(dict(head, EventType="COMPLETED"))
    return out


prev_end = {}


def genesys(start, revs):
    conv = uid(start["call_id"], "genesys")
    session_start = 1795000000000

    def note(transcripts, status, at):
        body = {"eventTime": iso(at), "organizationId": "6f0f2d5e-0000-4c1a-9d2b-3a4b5c6d7e8f",
                "conversationId": conv, "communicationId": uid(conv, "comm"),
                "sessionStartTimeMs": session_start, "transcriptionStartTimeMs": session_start,
                "transcripts": transcripts, "status": {"offsetMs": at, "status": status}}
        return {"topicName": f"v2.conversations.{conv}.transcription", "version": "2",
                "eventBody": body, "metadata": {"CorrelationId": uid(conv, at)}}

    out = [note([], "SESSION_ONGOING", 0)]  # the heartbeat at session start
    batch, window = [], 35000
    for r in revs:
        if batch and r["end"] >= window:
            out.append(note(batch, "SESSION_ONGOING", window))
            batch, window = [], window + 35000
        words = []
        step = (r["end"] - r["start"]) // max(len(r["words"]), 1)
        for i, w in enumerate(r["words"]):
            off = r["start"] + i * step
            words.append({"confidence": 0.9, "startTimeMs": session_start + off, "offsetMs": off,
                          "durationMs": step, "word": w})
        batch.append({"utteranceId": uid(conv, r["seg"]), "isFinal": r["final"],
                      "channel": "EXTERNAL" if r["speaker"] == "customer" else "INTERNAL",
                      "alternatives": [{"confidence": 0.87, "offsetMs": r["start"],
                                        "durationMs": r["end"] - r["start"], "transcript": r["text"],
                                        "words": words}],
                      "engineId": "genesys", "dialect": "es-ES", "agentAssistEnabled": False,
                      "voiceTranscriptionEnabled": True})
    out.append(note(batch, "SESSION_ONGOING", window))
    out.append(note([], "SESSION_ENDED", revs[-1]["end"] + 2000))
    return out


def deepgram(start, revs):
    """Interim results, is_final chunks joined until speech_final (or UtteranceEnd)."""
    by_seg = {}
    for r in revs:
        by_seg.setdefault(r["seg"], []).append(r)
    # Commit (is_final) the middle partial of utterances with two partials or more.
    commit = {n: rs[(len(rs) - 1) // 2] for n, rs in by_seg.items() if len(rs) >= 3}
    out = [{"type": "Metadata", "transaction_key": "deprecated", "request_id": uid(start["call_id"], "dg"),
            "sha256": "0" * 64, "created": iso(0), "duration": 0.0, "channels": 2}]
    for r in revs:
        ch = 0 if r["speaker"] == "customer" else 1
        c = commit.get(r["seg"])
        after = c is not None and r["end"] > c["end"]
        text = " ".join(r["words"][len(c["words"]):]) if after else r["text"]
        t0 = c["end"] if after else r["start"]
        is_commit = c is r
        use_utterance_end = r["final"] and r["seg"] % 5 == 4
        msg = {"type": "Results", "channel_index": [ch, 2], "duration": secs(r["end"] - t0),
               "start": secs(t0), "is_final": r["final"] or is_commit,
               "speech_final": r["final"] and not use_utterance_end,
               "channel": {"alternatives": [{"transcript": text, "confidence": 0.94, "languages": ["es"],
                                             "words": [{"word": w, "start": secs(t0), "end": secs(r["end"]),
                                                        "confidence": 0.93, "punctuated_word": w,
                                                        "language": "es"} for w in text.split()]}]},
               "metadata": {"request_id": uid(start["call_id"], "dg"),
                            "model_info": {"name": "nova-3", "version": "2025-01-01.0", "arch": "nova-3"},
                            "model_uuid": uid("nova-3")},
               "from_finalize": False}
        out.append(msg)
        if use_utterance_end:
            out.append({"type": "UtteranceEnd", "channel": [ch, 2], "last_word_end": secs(r["end"])})
    return out


# Google: the recognition offsets count from the start of the audio stream, which here began
# (IVR) this long before CONVERSATION_STARTED was published; only the wall clock is shared.
AUDIO_LEAD_MS = 4000


def google_ccai(start, revs):
    conv = f"projects/fibranet-cc/locations/global/conversations/{uid(start['call_id'], 'ccai')[:18]}"
    parts = {"customer": ("END_USER", conv + "/participants/eu-1"),
             "agent": ("HUMAN_AGENT", conv + "/participants/ha-1")}
    out, n = [], 0

    def push(event, at, attrs=None):
        nonlocal n
        n += 1
        data = base64.b64encode(json.dumps(event, ensure_ascii=False).encode()).decode()
        msg = {"data": data, "messageId": str(9130000000000000 + n), "message_id": str(9130000000000000 + n),
               "publishTime": iso(at), "publish_time": iso(at), "attributes": attrs or {}}
        return {"message": msg, "subscription": "projects/fibranet-cc/subscriptions/calma-agent-assist"}

    out.append(push({"conversation": conv, "type": "CONVERSATION_STARTED"}, 0))
    for r in revs:
        role, participant = parts[r["speaker"]]
        if r["final"]:
            ev = {"conversation": conv, "type": "NEW_MESSAGE",
                  "newMessagePayload": {"name": f"{conv}/messages/{uid(conv, r['seg'])[:12]}",
                                        "content": r["text"], "languageCode": "es-ES",
                                        "participant": participant, "participantRole": role,
                                        "createTime": iso(r["end"]), "sendTime": iso(r["start"])}}
            out.append(push(ev, r["end"] + 200))
        else:
            ev = {"conversation": conv, "type": "NEW_RECOGNITION_RESULT",
                  "newRecognitionResultPayload": {
                      "messageType": "TRANSCRIPT", "transcript": r["text"], "isFinal": False,
                      "stability": 0.8, "confidence": 0.0, "languageCode": "es-es",
                      "speechEndOffset": f"{secs(r['end'] + AUDIO_LEAD_MS):.3f}s",
                      "speechWordInfo": [{"word": r["words"][0],
                                          "startOffset": f"{secs(r['start'] + AUDIO_LEAD_MS):.3f}s",
                                          "endOffset": f"{secs(r['end'] + AUDIO_LEAD_MS):.3f}s",
                                          "confidence": 0.0}]}}
            # Published as heard: interims are timed by publishTime, so its latency would show.
            out.append(push(ev, r["end"], {"participant_role": role, "participant": participant}))
    out.append(push({"conversation": conv, "type": "CONVERSATION_FINISHED"}, revs[-1]["end"] + 1500))
    return out


def jambonz(start, revs):
    sid = uid(start["call_id"], "jambonz")
    info = {"call_sid": sid, "direction": "inbound", "from": "+34600112233", "to": "+34910000000",
            "call_id": uid(sid, "sip") + "@10.0.1.23", "sip_status": 200, "sip_reason": "OK",
            "call_status": "in-progress", "account_sid": uid("acct"), "trace_id": uid(sid, "trace")[:32],
            "application_sid": uid("app"), "caller_name": "", "originating_sip_ip": "10.0.1.23",
            "originating_sip_trunk_name": "fibranet-pstn", "local_sip_address": "10.0.1.5:5060"}
    out = [dict(info)]
    for r in revs:
        tag = 1 if r["speaker"] == "customer" else 2
        evt = {"type": "Results", "channel_index": [0, 1], "duration": secs(r["end"] - r["start"]),
               "start": secs(r["start"]), "is_final": r["final"], "speech_final": r["final"],
               "channel": {"alternatives": [{"transcript": r["text"], "confidence": 0.94}]}}
        out.append(dict(info, speech={"language_code": "es-ES", "channel_tag": tag, "is_final": r["final"],
                                      "alternatives": [{"confidence": 0.94, "transcript": r["text"]}],
                                      "vendor": {"name": "deepgram", "evt": evt}}))
    out.append(dict(info, call_status="completed", sip_status=200, duration=math.ceil(revs[-1]["end"] / 1000)))
    return out


def twilio(start, revs):
    sid = "CA" + hashlib.sha1((start["call_id"] + "tw").encode()).hexdigest()[:32]
    gt = "GT" + hashlib.sha1((start["call_id"] + "gt").encode()).hexdigest()[:32]
    common = [("AccountSid", "AC" + "5f1e0a" * 5 + "00"), ("CallSid", sid), ("TranscriptionSid", gt),
              ("LanguageCode", "es-ES")]
    out, seq = [], 0

    def form(event, at, extra):
        nonlocal seq
        seq += 1
        pairs = [("TranscriptionEvent", event)] + common + [("Timestamp", iso(at)), ("SequenceId", str(seq))]
        return urllib.parse.urlencode(pairs + extra)

    out.append(form("transcription-started", 0, [("Track", "both_tracks"),
                                                 ("TranscriptionEngine", "google"), ("PartialResults", "true")]))
    for r in revs:
        track = "inbound_track" if r["speaker"] == "customer" else "outbound_track"
        data = json.dumps({"transcript": r["text"], "confidence": 0.91}, ensure_ascii=False)
        extra = [("Track", track), ("Final", "true" if r["final"] else "false")]
        if not r["final"]:
            extra.append(("Stability", "0.6"))
        extra.append(("TranscriptionData", data))
        out.append(form("transcription-content", r["end"], extra))
    out.append(form("transcription-stopped", revs[-1]["end"] + 1500, [("Track", "both_tracks")]))
    return out


RENDER = {"aws-transcribe": aws_transcribe, "aws-lca": aws_lca, "contact-lens": contact_lens,
          "genesys": genesys, "deepgram": deepgram, "google-ccai": google_ccai, "jambonz": jambonz,
          "twilio": twilio}

if __name__ == "__main__":
    for name in CALLS:
        start, segs = load(name)
        revs = revisions(segs)
        write("v1", name, v1(start, revs))
        for fmt, render in RENDER.items():
            prev_end.clear()
            write(fmt, name, render(start, revs))
    print("rendered", len(CALLS), "calls into", len(RENDER), "formats")
