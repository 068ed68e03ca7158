//! The DNS responder inside the sandbox: allowed names get their real IPv4 addresses, as
//! mcpcell resolved them; every other name gets NXDOMAIN. Queries are never forwarded, and
//! only an A query makes mcpcell resolve anything: AAAA, TXT, MX, ANY and every other type
//! are answered from the allowlist alone (no records), so no query type lets a name carry
//! data to the host's resolver that an address lookup would not.

use std::net::Ipv4Addr;

use simple_dns::rdata::{A, RData};
use simple_dns::{CLASS, Packet, PacketFlag, QTYPE, RCODE, ResourceRecord, TYPE};

/// What to say about one queried name.
pub enum Answer {
    /// An allowed name: its addresses for A queries, no records for other types.
    Allowed(Vec<Ipv4Addr>),
    /// Not on the allowlist (or no address left): NXDOMAIN.
    Refused,
}

/// What the question asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// IPv4 addresses: the name is resolved (if allowed).
    Addresses,
    /// Anything else: whether the name is allowed, without resolving it.
    Nothing,
}

/// Builds the reply to `query`, asking `decide` about the (first) queried name.
pub fn respond(query: &[u8], decide: impl FnOnce(&str, Want) -> Answer) -> Option<Vec<u8>> {
    let q = Packet::parse(query).ok()?;
    let mut reply = Packet::new_reply(q.id());
    if q.has_flags(PacketFlag::RECURSION_DESIRED) {
        reply.set_flags(PacketFlag::RECURSION_DESIRED);
    }
    reply.set_flags(PacketFlag::RECURSION_AVAILABLE);
    let Some(question) = q.questions.first() else {
        *reply.rcode_mut() = RCODE::FormatError;
        return reply.build_bytes_vec().ok();
    };
    reply.questions.push(question.clone());
    let name = question
        .qname
        .to_string()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let want = if question.qtype == QTYPE::TYPE(TYPE::A) {
        Want::Addresses
    } else {
        Want::Nothing
    };
    match decide(&name, want) {
        Answer::Allowed(ips) => {
            if want == Want::Addresses {
                for ip in ips {
                    reply.answers.push(ResourceRecord::new(
                        question.qname.clone(),
                        CLASS::IN,
                        60,
                        RData::A(A {
                            address: u32::from(ip),
                        }),
                    ));
                }
            }
        }
        Answer::Refused => *reply.rcode_mut() = RCODE::NameError,
    }
    reply.build_bytes_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::{Name, QCLASS, Question};

    fn query(name: &str, t: TYPE) -> Vec<u8> {
        let mut p = Packet::new_query(7);
        p.set_flags(PacketFlag::RECURSION_DESIRED);
        p.questions.push(Question::new(
            Name::new(name).unwrap(),
            QTYPE::TYPE(t),
            QCLASS::CLASS(CLASS::IN),
            false,
        ));
        p.build_bytes_vec().unwrap()
    }

    #[test]
    fn allowed_names_get_the_given_address() {
        let ip = Ipv4Addr::new(127, 128, 0, 9);
        let r = respond(&query("Api.Example.COM", TYPE::A), |n, w| {
            assert_eq!((n, w), ("api.example.com", Want::Addresses));
            Answer::Allowed(vec![ip])
        })
        .unwrap();
        let p = Packet::parse(&r).unwrap();
        assert_eq!(p.id(), 7);
        assert_eq!(p.rcode(), RCODE::NoError);
        assert_eq!(p.answers.len(), 1);
        match &p.answers[0].rdata {
            RData::A(a) => assert_eq!(Ipv4Addr::from(a.address), ip),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn aaaa_of_an_allowed_name_is_empty_and_others_are_nxdomain() {
        let r = respond(&query("a.test", TYPE::AAAA), |_, w| {
            assert_eq!(w, Want::Nothing);
            Answer::Allowed(vec![Ipv4Addr::LOCALHOST])
        })
        .unwrap();
        let p = Packet::parse(&r).unwrap();
        assert_eq!(p.rcode(), RCODE::NoError);
        assert!(p.answers.is_empty());
        let r = respond(&query("exfil.evil.test", TYPE::TXT), |_, _| Answer::Refused).unwrap();
        assert_eq!(Packet::parse(&r).unwrap().rcode(), RCODE::NameError);
        assert!(respond(b"garbage", |_, _| Answer::Refused).is_none());
    }

    /// Only an A question may make the proxy resolve a name; every other type is answered
    /// with no records, even when the decision says what the addresses would be.
    #[test]
    fn only_a_queries_ask_for_addresses() {
        for t in [
            TYPE::TXT,
            TYPE::MX,
            TYPE::AAAA,
            TYPE::CNAME,
            TYPE::NS,
            TYPE::SRV,
            TYPE::PTR,
            TYPE::SOA,
            TYPE::HINFO,
        ] {
            let r = respond(&query("data.a.test", t), |_, w| {
                assert_eq!(w, Want::Nothing, "{t:?}");
                Answer::Allowed(vec![Ipv4Addr::new(93, 184, 215, 14)])
            })
            .unwrap();
            let p = Packet::parse(&r).unwrap();
            assert_eq!(p.rcode(), RCODE::NoError, "{t:?}");
            assert!(p.answers.is_empty(), "{t:?}");
        }
        let mut any = Packet::new_query(9);
        any.questions.push(Question::new(
            Name::new("data.a.test").unwrap(),
            QTYPE::ANY,
            QCLASS::CLASS(CLASS::IN),
            false,
        ));
        let r = respond(&any.build_bytes_vec().unwrap(), |_, w| {
            assert_eq!(w, Want::Nothing);
            Answer::Allowed(vec![])
        })
        .unwrap();
        assert!(Packet::parse(&r).unwrap().answers.is_empty());
    }
}
