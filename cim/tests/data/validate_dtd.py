"""Validates CIM-XML documents against the DSP0203 2.4.0 DTD with lxml.

    /tmp/pyv/bin/pip install lxml
    /tmp/pyv/bin/python cim/tests/data/validate_dtd.py DSP0203_2.4.0.dtd FILE_OR_DIR...

The DTD is DMTF's DSP0203 2.4.0 (https://www.dmtf.org/dsp/DSP0203); it is not
checked in. Generated samples: CIM_XML_SAMPLES=/tmp/samples cargo test -p cim
--test it dump_samples. Exit status 0 when every document is valid.
"""
import os
import sys
from lxml import etree

dtd = etree.DTD(open(sys.argv[1], "rb"))
files = []
for arg in sys.argv[2:]:
    if os.path.isdir(arg):
        files += [os.path.join(arg, f) for f in sorted(os.listdir(arg)) if f.endswith(".xml")]
    else:
        files.append(arg)
bad = 0
for f in files:
    doc = etree.parse(f, etree.XMLParser(resolve_entities=False, no_network=True))
    if not dtd.validate(doc):
        bad += 1
        print("INVALID", f)
        for e in list(dtd.error_log.filter_from_errors())[:3]:
            print("   ", e.message)
print("%d documents, %d invalid" % (len(files), bad))
sys.exit(1 if bad else 0)
